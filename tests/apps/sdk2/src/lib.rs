//! An app on spin-sdk 2.2, as many were written for Spin 2: a greeting from a variable.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    let greeting = spin_sdk::variables::get("greeting")?;
    Ok(Response::builder()
        .status(200)
        .body(format!("{greeting} from {}\n", req.path()))
        .build())
}
