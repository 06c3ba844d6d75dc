use bytes::{Bytes, BytesMut};
use http::request::Parts;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::executor::GuestError;

/// The most of a request body this process holds for a guest that takes it whole (Spin 1,
/// WAGI): that guest's memory cap, which by default is all of a 32-bit memory, is too much for
/// one request to make the server buffer.
const WHOLE_BODY_LIMIT: usize = 256 << 20;

/// The most a guest that takes a whole body can be given: its memory limit, at most
/// [`WHOLE_BODY_LIMIT`].
pub fn whole_limit(max_memory: usize) -> usize {
    max_memory.min(WHOLE_BODY_LIMIT)
}

pub fn empty() -> HyperOutgoingBody {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn full(bytes: impl Into<Bytes>) -> HyperOutgoingBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// The whole request body, for a guest that takes it at once; a body larger than that guest's
/// memory could ever hold is refused with 413 as it arrives (or by its Content-Length), rather
/// than buffered on the host first.
pub async fn read_whole<B>(
    component: &str,
    parts: &Parts,
    body: B,
    max_memory: usize,
) -> Result<Result<Bytes, Response<HyperOutgoingBody>>, GuestError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    let limit = whole_limit(max_memory);
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let within = match declared {
        Some(length) if length > limit as u64 => None,
        _ => read_up_to(body, limit).await?,
    };
    Ok(within.ok_or_else(|| {
        log::debug!("component '{component}': request body over {limit} bytes refused with 413");
        let mut response = Response::new(full(format!(
            "request body larger than the {limit} bytes component '{component}' can take whole \
             (its memory limit)\n"
        )));
        *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
        response
    }))
}

async fn read_up_to<B>(body: B, limit: usize) -> Result<Option<Bytes>, GuestError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    let mut body = std::pin::pin!(body);
    let mut bytes = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| GuestError(format!("reading the request body: {:?}", e.into())))?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > limit {
                return Ok(None);
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(Some(bytes.freeze()))
}
