//! The Spin artifact reader, as the server runs it on an image's config and layers: never
//! panics, never writes outside its work directory.
//!
//! Input: the locked app's JSON, then layers, each after a line `--layer--` and starting with a
//! byte that picks its media type. The harness gives every layer its true digest, and in the
//! locked app replaces `@N` (N a digit) with layer N's digest, so mutations reach the reader
//! past the digest checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use spinrt_oci::media_types::{
    ARCHIVE_LAYER, DATA_LAYER, OCI_CONFIG, SPIN_APPLICATION, WASM_LAYER,
};

const SEPARATOR: &[u8] = b"\n--layer--\n";
const MEDIA_TYPES: [&str; 5] = [
    WASM_LAYER,
    DATA_LAYER,
    ARCHIVE_LAYER,
    SPIN_APPLICATION,
    "application/octet-stream",
];

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn split<'a>(mut input: &'a [u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    while let Some(at) = input
        .windows(SEPARATOR.len())
        .position(|w| w == SEPARATOR)
    {
        parts.push(&input[..at]);
        input = &input[at + SEPARATOR.len()..];
    }
    parts.push(input);
    parts
}

fuzz_target!(|input: &[u8]| {
    let parts = split(input);
    let (locked, layers) = parts.split_first().expect("split yields one part at least");
    let layers: Vec<(&str, &[u8], String)> = layers
        .iter()
        .take(10)
        .map(|l| match l.split_first() {
            Some((kind, bytes)) => (MEDIA_TYPES[*kind as usize % MEDIA_TYPES.len()], bytes, digest(bytes)),
            None => (DATA_LAYER, &[][..], digest(&[])),
        })
        .collect();
    let mut locked = String::from_utf8_lossy(locked).into_owned();
    for (i, (_, _, digest)) in layers.iter().enumerate() {
        locked = locked.replace(&format!("@{i}"), digest);
    }
    let locked_digest = digest(locked.as_bytes());
    let config = format!(
        r#"{{"architecture":"wasm","os":"wasip1","config":{{"Labels":{{"{}":"{locked_digest}"}}}}}}"#,
        spinrt_oci::media_types::LOCKED_APP_DIGEST_LABEL
    );
    let mut all: Vec<spinrt_oci::Layer> = layers
        .iter()
        .map(|(media_type, bytes, digest)| spinrt_oci::Layer {
            media_type,
            digest,
            bytes,
            precompiled: false,
            compiled_file: None,
        })
        .collect();
    all.push(spinrt_oci::Layer {
        media_type: SPIN_APPLICATION,
        digest: &locked_digest,
        bytes: locked.as_bytes(),
        precompiled: false,
        compiled_file: None,
    });
    let outer = tempfile::tempdir().expect("a temporary directory");
    let work = outer.path().join("work");
    let _ = spinrt_oci::read(OCI_CONFIG, config.as_bytes(), &all, &work);
    // Nothing may be written beside the work directory.
    let entries: Vec<_> = std::fs::read_dir(outer.path())
        .expect("reading the temporary directory")
        .map(|e| e.expect("an entry").file_name())
        .collect();
    assert!(
        entries.iter().all(|e| e == "work"),
        "the reader wrote outside its work directory: {entries:?}"
    );
});
