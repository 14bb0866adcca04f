//! libFuzzer target (cargo-fuzz): the same harness as the stable driver, `subinterpreters_fuzz::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    subinterpreters_fuzz::run(data);
});
