//! Compile-time behaviour of `#[derive(kafkadeps::Event)]`: what must compile, and the errors
//! (with their spans) for what must not. Snapshots: `tests/ui/fail/*.stderr`
//! (regenerate with `TRYBUILD=overwrite` after a deliberate change).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
