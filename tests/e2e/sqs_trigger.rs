//! The SQS trigger against moto's SQS server on loopback: the `sqs` test app (a component bound
//! with wit-bindgen against the SQS plugin's WIT, writing to Redis through spin-sdk 7) records
//! each message it gets as the Redis key `sqs:BODY`, then asks for it to be deleted (or left, or
//! refuses it); through `spinrt up` and through containerd 2.1, credentials, region and
//! endpoint coming from the usual `AWS_*` variables.

use std::time::{Duration, Instant};

use serde_json::json;
use spinrt_tests::bins::Up;
use spinrt_tests::containerd::{Containerd, Version, unique_id};
use spinrt_tests::net::blocking_get as get;
use spinrt_tests::services::{Service, redis, redis_cli, sqs, sqs_call};
use spinrt_tests::{apps, images};

/// A queue whose messages come back 2 s after a consumer leaves them (SQS's default is 30).
fn create_queue(server: &Service, name: &str) -> String {
    let created = sqs_call(
        server.port,
        "CreateQueue",
        json!({"QueueName": name, "Attributes": {"VisibilityTimeout": "2"}}),
    );
    created["QueueUrl"].as_str().unwrap().to_string()
}

fn send(server: &Service, queue_url: &str, body: &str) -> String {
    let sent = sqs_call(
        server.port,
        "SendMessage",
        json!({
            "QueueUrl": queue_url,
            "MessageBody": body,
            "MessageAttributes": {
                "colour": {"DataType": "String", "StringValue": "red"},
                "blob": {"DataType": "Binary", "BinaryValue": "AQID"},
                "ignored": {"DataType": "String", "StringValue": "not asked for"}
            }
        }),
    );
    sent["MessageId"].as_str().unwrap().to_string()
}

/// Messages on the queue, visible or in a consumer's hands.
fn messages_on(server: &Service, queue_url: &str) -> u64 {
    let attributes = sqs_call(
        server.port,
        "GetQueueAttributes",
        json!({"QueueUrl": queue_url, "AttributeNames": ["All"]}),
    );
    [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
    ]
    .iter()
    .map(|a| {
        attributes["Attributes"][a]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    })
    .sum()
}

fn redis_get(port: u16, key: &str) -> String {
    redis_cli(port, &["get", key])
}

/// Waits until `check` holds, at most 60 s.
fn wait_until(what: &str, mut check: impl FnMut() -> bool, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "{what}:\n{}", log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the consumer recorded for a message the first time it got it.
fn first_record(id: &str) -> String {
    format!(
        "id={id} attributes=[ApproximateReceiveCount(-)=1,blob(Binary)=3 bytes,colour(String)=red]"
    )
}

/// The trigger's whole contract, on a consumer already receiving from `queue_url`.
fn consumes(server: &Service, queue_url: &str, redis_port: u16, log: impl Fn() -> String) {
    // A message the component deletes: recorded once, with the attributes the manifest asks
    // for (and not the others), and gone from the queue.
    let id = send(server, queue_url, "first");
    wait_until(
        "the first message never reached the consumer",
        || !redis_get(redis_port, "sqs:first").is_empty(),
        &log,
    );
    assert_eq!(redis_get(redis_port, "sqs:first"), first_record(&id));
    wait_until(
        "the first message was never deleted",
        || messages_on(server, queue_url) == 0,
        &log,
    );

    // A message the component leaves comes back after the visibility timeout, and again.
    send(server, queue_url, "leave-me");
    wait_until(
        "a message left on the queue never came back",
        || redis_get(redis_port, "sqs:leave-me").contains("ApproximateReceiveCount(-)=2"),
        &log,
    );
    assert_eq!(messages_on(server, queue_url), 1);

    // A message the component refuses is logged and stays; the next is handled all the same.
    send(server, queue_url, "fail");
    wait_until(
        "a refused message was never logged",
        || log().contains("refusing the message 'fail'"),
        &log,
    );
    let id = send(server, queue_url, "after");
    wait_until(
        "the message after a refused one never reached the consumer",
        || redis_get(redis_port, "sqs:after") == first_record(&id),
        &log,
    );
}

const AWS_ENV: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
    ("AWS_REGION", "us-east-1"),
];

#[test]
fn queued_messages_reach_an_sqs_consumer_through_spinrt_up() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("up.log");
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let server = sqs();
    let store = redis();
    let queue_url = create_queue(&server, "jobs");
    let endpoint = format!("http://127.0.0.1:{}", server.port);
    let redis_port = store.port.to_string();
    let mut env = AWS_ENV.to_vec();
    env.extend([
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("SPIN_VARIABLE_QUEUE_URL", queue_url.as_str()),
        ("SPIN_VARIABLE_REDIS_PORT", redis_port.as_str()),
    ]);
    let mut up = Up::try_start(apps::manifest_dir("sqs"), &["--no-cache"], &env, &log_path)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(get(up.addr, "/"), (200, "Hello from Spin!\n".into()));
    consumes(&server, &queue_url, store.port, log);
    let status = up.terminate();
    assert!(status.success(), "{status}\n{}", log());
}

#[test]
fn an_sqs_trigger_without_a_region_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("up.log");
    let refused = Up::try_start(
        apps::manifest_dir("sqs"),
        &["--no-cache"],
        &[
            (
                "SPIN_VARIABLE_QUEUE_URL",
                "http://127.0.0.1:1/123456789012/q",
            ),
            ("AWS_CONFIG_FILE", "/nonexistent"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_REGION", ""),
            ("AWS_DEFAULT_REGION", ""),
        ],
        &log_path,
    );
    let Err(error) = refused else {
        panic!("spinrt up served an SQS trigger with no AWS region");
    };
    assert!(error.contains("no AWS region is configured"), "{error}");
}

#[test]
fn sqs_trigger_under_containerd_2_1() {
    let server = sqs();
    let store = redis();
    let queue_url = create_queue(&server, "containerd-jobs");
    let ctd = Containerd::start(Version::V2_1);
    let tar = images::spin_artifact("sqs", "localhost/sqs:v1", ctd.dir());
    ctd.ctr_ok(&["images", "import", "--all-platforms", tar.to_str().unwrap()]);
    let id = unique_id("sqs");
    let task_log = ctd.dir().join("sqs-task.log");
    let mut args: Vec<String> = AWS_ENV.iter().map(|(k, v)| format!("{k}={v}")).collect();
    args.extend([
        format!("AWS_ENDPOINT_URL=http://127.0.0.1:{}", server.port),
        format!("SPIN_VARIABLE_QUEUE_URL={queue_url}"),
        format!("SPIN_VARIABLE_REDIS_PORT={}", store.port),
    ]);
    let mut extra: Vec<&str> = args.iter().flat_map(|a| ["--env", a.as_str()]).collect();
    let log_uri = format!("file://{}", task_log.display());
    extra.extend(["--log-uri", &log_uri]);
    let addr = ctd.run_detached("localhost/sqs:v1", &id, &extra);
    assert_eq!(get(addr, "/"), (200, "Hello from Spin!\n".into()));
    let log = || std::fs::read_to_string(&task_log).unwrap_or_default();
    consumes(&server, &queue_url, store.port, log);
    let stopped = ctd.stop(&id);
    assert!(!stopped.contains("non-zero exit"), "{stopped}");
}
