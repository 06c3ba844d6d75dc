//! In-process costs of serving a request: compiling a component against loading it from the
//! precompile cache, instantiating it from its `InstancePre` (pooling allocator), and one whole
//! request through the HTTP trigger. The hello test app (spin-sdk, `wasm32-wasip2`) throughout.

use std::net::SocketAddr;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt, Empty};
use spinrt_engine::{Engine, EngineConfig, HostConfig, LoadedApp};
use spinrt_tests::apps;
use spinrt_trigger_http::{HttpServer, InstanceReuse};

fn hello_wasm() -> Vec<u8> {
    std::fs::read(apps::wasm("wasm32-wasip2", "hello")).unwrap()
}

fn compile_vs_cache(c: &mut Criterion) {
    let engine = Engine::new(&EngineConfig {
        cache_dir: None,
        ..Default::default()
    })
    .unwrap();
    let wasm = hello_wasm();
    let precompiled = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        precompiled.path(),
        engine.precompile("hello", &wasm).unwrap(),
    )
    .unwrap();
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    group.bench_function("compile (no cache)", |b| {
        b.iter(|| engine.precompile("hello", &wasm).unwrap())
    });
    group.bench_function("load precompiled machine code (mapped file)", |b| {
        b.iter(|| {
            engine
                .load_precompiled_file("hello", precompiled.path())
                .unwrap()
        })
    });
    group.finish();
}

fn hello_app(runtime: &tokio::runtime::Runtime, cache: &std::path::Path) -> Arc<LoadedApp> {
    let app = spinrt_app::manifest::load(&apps::manifest_dir("hello")).unwrap();
    let engine = Engine::new(&EngineConfig {
        cache_dir: Some(cache.to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    let _guard = runtime.enter();
    Arc::new(LoadedApp::load(&engine, app, HostConfig::default()).unwrap())
}

fn per_request(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let app = hello_app(&runtime, cache.path());
    let component = app.components().next().unwrap();

    c.bench_function("instantiate from InstancePre", |b| {
        b.to_async(&runtime).iter(|| async {
            let mut store = component.new_store().unwrap();
            component
                .instance_pre()
                .instantiate_async(&mut store)
                .await
                .unwrap()
        })
    });

    let server = HttpServer::new(app.clone(), InstanceReuse::default()).unwrap();
    let client: SocketAddr = "127.0.0.1:1".parse().unwrap();
    c.bench_function("one request through the HTTP trigger", |b| {
        b.to_async(&runtime).iter(|| async {
            let req = http::Request::get("http://localhost/")
                .body(Empty::<bytes::Bytes>::new().map_err(
                    |never| -> spinrt_engine::wasmtime_wasi_http::Error { match never {} },
                ))
                .unwrap();
            let res = server.handle(req, client).await;
            assert_eq!(res.status(), 200);
            res.into_body().collect().await.unwrap().to_bytes()
        })
    });
}

criterion_group!(benches, compile_vs_cache, per_request);
criterion_main!(benches);
