//! Spin's runtime conformance suite, every test, through `spinrt up`.

use spinrt_tests::conformance;

#[test]
fn spin_conformance_suite() {
    let suite = conformance::locate();
    assert!(
        suite.join("README.md").is_file(),
        "no conformance suite at {}",
        suite.display()
    );
    let filter = std::env::var("SPIN_CONFORMANCE_FILTER").unwrap_or_default();
    let cache = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let tests = conformance::tests(&suite);
    assert!(!tests.is_empty(), "no tests in {}", suite.display());
    for test in &tests {
        let name = test.file_name().unwrap().to_string_lossy().to_string();
        if !name.contains(&filter) {
            continue;
        }
        match conformance::run(&suite, test, cache.path()) {
            Ok(()) => eprintln!("conformance {name}: ok"),
            Err(e) => {
                eprintln!("conformance {name}: FAILED\n{e}");
                failures.push(name);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} conformance tests failed: {failures:?}",
        failures.len(),
        tests.len()
    );
}
