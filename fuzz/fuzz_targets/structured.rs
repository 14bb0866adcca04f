//! libFuzzer target (cargo-fuzz): the structured format's harness, `subinterpreters_fuzz::structured::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    subinterpreters_fuzz::structured::run(data);
});
