//! Stable-Rust driver for the fuzz harnesses (no libFuzzer, no nightly): feeds
//! `subinterpreters_fuzz::run` (`--target core_ops`, the default) or
//! `subinterpreters_fuzz::structured::run` (`--target structured`) random inputs from a seeded
//! RNG, and/or every file of corpus directories, and reports the first input that fails, shrunk.
//!
//! ```text
//! fuzz-driver [--target T] [--seconds S] [--iterations N] [--seed X] [--max-ops M] [--artifacts DIR] [CORPUS_DIR|FILE]...
//! ```
//! Defaults: 60 s, unlimited iterations, a seed from the clock (printed, to replay a run), up to
//! 64 operations per input, failing inputs written to `fuzz/artifacts/`. With corpus paths only
//! (no --seconds/--iterations), runs just those files (replaying an artifact).

use std::panic;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use subinterpreters_fuzz::structured::model::{encode, generate, Shape, XorShift};
use subinterpreters_fuzz::{decode, run, structured, OP_BYTES};

/// splitmix64: small, good enough, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Which harness.
#[derive(Clone, Copy, PartialEq)]
enum Target {
    /// Queues, channel and select against the reference model (`run`).
    CoreOps,
    /// The structured format's decoder and round trips (`structured::run`).
    Structured,
}

struct Args {
    target: Target,
    seconds: Option<f64>,
    iterations: Option<u64>,
    seed: u64,
    max_ops: usize,
    artifacts: PathBuf,
    corpus: Vec<PathBuf>,
}

fn parse_args() -> Args {
    let mut args = Args {
        target: Target::CoreOps,
        seconds: None,
        iterations: None,
        seed: SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64),
        max_ops: 64,
        artifacts: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/artifacts")),
        corpus: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().unwrap_or_else(|| panic!("{name} needs a value"));
        match arg.as_str() {
            "--target" => {
                args.target = match value("--target").as_str() {
                    "core_ops" => Target::CoreOps,
                    "structured" => Target::Structured,
                    other => panic!("--target: core_ops or structured, not {other}"),
                }
            }
            "--seconds" => args.seconds = Some(value("--seconds").parse().expect("--seconds: a number")),
            "--iterations" => args.iterations = Some(value("--iterations").parse().expect("--iterations: an integer")),
            "--seed" => args.seed = value("--seed").parse().expect("--seed: an integer"),
            "--max-ops" => args.max_ops = value("--max-ops").parse().expect("--max-ops: an integer"),
            "--artifacts" => args.artifacts = PathBuf::from(value("--artifacts")),
            "-h" | "--help" => {
                println!("{}", include_str!("driver.rs").lines().take(12).collect::<Vec<_>>().join("\n"));
                std::process::exit(0);
            }
            path => args.corpus.push(PathBuf::from(path)),
        }
    }
    if args.seconds.is_none() && args.iterations.is_none() && args.corpus.is_empty() {
        args.seconds = Some(60.0);
    }
    args
}

/// Runs `data` on `target`, catching the harness's panic: `Err(message)` if it failed.
fn check(target: Target, data: &[u8]) -> Result<(), String> {
    panic::catch_unwind(|| match target {
        Target::CoreOps => run(data),
        Target::Structured => structured::run(data),
    })
    .map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "(non-string panic)".into())
    })
}

/// Removes bytes (after the first, the mode), in chunks then one at a time, and lowers bytes,
/// while the structured input still fails.
fn shrink_bytes(data: &[u8]) -> Vec<u8> {
    let mut best = data.to_vec();
    let mut chunk = (best.len() / 2).max(1);
    loop {
        let mut start = 1;
        while start < best.len() {
            let end = (start + chunk).min(best.len());
            let mut candidate = best[..start].to_vec();
            candidate.extend_from_slice(&best[end..]);
            if check(Target::Structured, &candidate).is_err() {
                best = candidate;
            } else {
                start += chunk;
            }
        }
        if chunk == 1 {
            break;
        }
        chunk /= 2;
    }
    for at in 1..best.len() {
        for smaller in [0, best[at] / 2, best[at].saturating_sub(1)] {
            if smaller < best[at] {
                let mut candidate = best.clone();
                candidate[at] = smaller;
                if check(Target::Structured, &candidate).is_err() {
                    best = candidate;
                }
            }
        }
    }
    best
}

/// Removes operations (whole chunks, then single ones) while the input still fails.
fn shrink(data: &[u8]) -> Vec<u8> {
    let head = data.len().min(2);
    let mut best = data[..head + (data.len() - head) / OP_BYTES * OP_BYTES].to_vec();
    let mut chunk = ((best.len() - head) / OP_BYTES).max(1);
    while chunk >= 1 {
        let mut start = 0;
        loop {
            let ops = (best.len() - head) / OP_BYTES;
            if start >= ops {
                break;
            }
            let end = (start + chunk).min(ops);
            let mut candidate = best[..head + start * OP_BYTES].to_vec();
            candidate.extend_from_slice(&best[head + end * OP_BYTES..]);
            if check(Target::CoreOps, &candidate).is_err() {
                best = candidate;
            } else {
                start += chunk;
            }
        }
        if chunk == 1 {
            break;
        }
        chunk /= 2;
    }
    best
}

fn report(target: Target, data: &[u8], message: &str, artifacts: &PathBuf) -> ! {
    eprintln!("\nFAILED: {message}");
    let small = match target {
        Target::CoreOps => shrink(data),
        Target::Structured => shrink_bytes(data),
    };
    let message = check(target, &small).err().unwrap_or_default();
    match target {
        Target::CoreOps => {
            let (cap_a, cap_b, ops) = decode(&small);
            eprintln!(
                "shrunk to {} operations (queue A maxsize {cap_a}, queue B maxsize {cap_b}; 0 = unbounded):",
                ops.len()
            );
            for (i, op) in ops.iter().enumerate() {
                eprintln!("  {i:3}: {op:?}");
            }
        }
        Target::Structured => {
            let mode = small.first().map_or("empty", |m| if m & 1 == 0 { "bytes" } else { "value" });
            eprintln!("shrunk to {} bytes ({mode} mode): {:02x?}", small.len(), small);
        }
    }
    eprintln!("failure: {message}");
    let hash = small.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100_0000_01b3));
    if std::fs::create_dir_all(artifacts).is_ok() {
        let path = artifacts.join(format!("crash-{hash:016x}"));
        if std::fs::write(&path, &small).is_ok() {
            eprintln!("input written to {} (replay: fuzz-driver {})", path.display(), path.display());
        }
    }
    std::process::exit(1);
}

fn files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut entries: Vec<PathBuf> =
                std::fs::read_dir(path).expect("readable corpus").filter_map(|e| e.ok().map(|e| e.path())).collect();
            entries.sort();
            out.extend(entries.into_iter().filter(|p| p.is_file()));
        } else {
            out.push(path.clone());
        }
    }
    out
}

fn main() {
    let args = parse_args();
    // The harness reports failures itself; keep the default hook's message for the first panic
    // only (shrinking re-runs failing inputs many times).
    let quiet = std::sync::atomic::AtomicBool::new(false);
    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if !quiet.swap(true, std::sync::atomic::Ordering::Relaxed) {
            default_hook(info);
        }
    }));

    let start = Instant::now();
    let mut inputs = 0u64;
    let mut ops_run = 0u64;
    for path in files(&args.corpus) {
        let data = std::fs::read(&path).expect("readable input");
        if let Err(message) = check(args.target, &data) {
            eprintln!("corpus file {} fails", path.display());
            report(args.target, &data, &message, &args.artifacts);
        }
        inputs += 1;
        ops_run += (data.len().saturating_sub(2) / OP_BYTES) as u64;
    }

    if args.seconds.is_some() || args.iterations.is_some() {
        let deadline = args.seconds.map(|s| start + Duration::from_secs_f64(s));
        println!("fuzz-driver: seed {} (replay with --seed {})", args.seed, args.seed);
        let mut rng = Rng(args.seed);
        let mut data = Vec::new();
        let mut iteration = 0u64;
        loop {
            if args.iterations.is_some_and(|n| iteration >= n) || deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            iteration += 1;
            if args.target == Target::Structured {
                structured_input(&mut rng, &mut data);
                if let Err(message) = check(args.target, &data) {
                    eprintln!("iteration {iteration} (seed {}) fails", args.seed);
                    report(args.target, &data, &message, &args.artifacts);
                }
                inputs += 1;
                continue;
            }
            // Inputs of 0..=max_ops operations; opcodes drawn over a small alphabet half the
            // time, so that short runs of the same kind of operation (fill, drain) are common.
            let ops = rng.below(args.max_ops as u64 + 1) as usize;
            data.clear();
            data.push(rng.next() as u8);
            data.push(rng.next() as u8);
            let focus = rng.next();
            for _ in 0..ops * OP_BYTES {
                data.push(rng.next() as u8);
            }
            if focus & 1 == 0 {
                for op in 0..ops {
                    let at = 2 + op * OP_BYTES;
                    data[at] = ((focus >> 8) as u8).wrapping_add((rng.below(4) * 5) as u8 + data[at] % 3);
                }
            }
            if let Err(message) = check(args.target, &data) {
                eprintln!("iteration {iteration} (seed {}) fails", args.seed);
                report(args.target, &data, &message, &args.artifacts);
            }
            inputs += 1;
            ops_run += ops as u64;
        }
    }
    let (counts, names) = match args.target {
        Target::CoreOps => (&subinterpreters_fuzz::model::STATS[..], &subinterpreters_fuzz::model::STAT_NAMES[..]),
        Target::Structured => (&structured::STATS[..], &structured::STAT_NAMES[..]),
    };
    let stats: Vec<String> = counts
        .iter()
        .zip(names)
        .map(|(n, name)| format!("{name} {}", n.load(std::sync::atomic::Ordering::Relaxed)))
        .collect();
    println!("fuzz-driver: exercised {}", stats.join(", "));
    if args.target == Target::Structured {
        println!(
            "fuzz-driver: {inputs} inputs decoded, or round-tripped through the structured format, in {:.1?}: no difference",
            start.elapsed()
        );
        return;
    }
    println!(
        "fuzz-driver: {inputs} inputs, {ops_run} operations checked against the model in {:.1?}: no difference",
        start.elapsed()
    );
}

/// An input for the structured harness, into `data`: half the time the choices of a random value
/// (random bytes after an odd first byte); else a buffer for the decoder (after an even first
/// byte giving the number of attachments), mostly a random value's encoding with a few mutations
/// (bytes changed, inserted, removed, duplicated; a cut), so that most inputs get deep into the
/// decoder before they go wrong, and some do not go wrong at all.
fn structured_input(rng: &mut Rng, data: &mut Vec<u8>) {
    data.clear();
    if rng.below(2) == 0 {
        data.push(rng.next() as u8 | 1);
        let len = if rng.below(8) == 0 { rng.below(4096) } else { rng.below(256) };
        data.extend((0..len).map(|_| rng.next() as u8));
        return;
    }
    if rng.below(8) == 0 {
        data.push((rng.below(4) as u8) << 1);
        let len = rng.below(48);
        // Raw bytes, over the tags' alphabet more often than not.
        data.extend((0..len).map(|_| if rng.below(2) == 0 { rng.below(0x16) as u8 } else { rng.next() as u8 }));
        return;
    }
    let shape = Shape { max_items: 1 + rng.below(80) as usize, max_depth: 1 + rng.below(10) as usize };
    let graph = generate(&mut XorShift::new(rng.next()), shape);
    let Ok(value) = encode(&graph) else { return structured_input(rng, data) };
    let mut bytes = value.bytes().to_vec();
    for _ in 0..rng.below(4) {
        let at = rng.below(bytes.len() as u64 + 1) as usize;
        match rng.below(6) {
            0 | 1 if at < bytes.len() => bytes[at] = rng.next() as u8,
            2 if at < bytes.len() => bytes[at] ^= 1 << rng.below(8),
            3 => bytes.insert(at, if rng.below(2) == 0 { rng.below(0x16) as u8 } else { rng.next() as u8 }),
            4 => {
                let end = (at + 1 + rng.below(8) as usize).min(bytes.len());
                bytes.drain(at..end);
            }
            _ => {
                let end = (at + 1 + rng.below(8) as usize).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                let to = rng.below(bytes.len() as u64 + 1) as usize;
                bytes.splice(to..to, copy);
            }
        }
    }
    if rng.below(8) == 0 {
        bytes.truncate(rng.below(bytes.len() as u64 + 1) as usize);
    }
    let attachments = value.attachments().len() as u64 + rng.below(3);
    data.push((attachments.min(127) as u8) << 1);
    data.extend_from_slice(&bytes);
}
