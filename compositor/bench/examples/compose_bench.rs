//! Prints the composition benchmark alone (`fusionfb_bench::compose`), with a chosen number
//! of iterations.
//!
//! `cargo run --release -p fusionfb-bench --example compose_bench [ITERATIONS]`

fn main() {
    let iterations = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let report = fusionfb_bench::compose::run(fusionfb_bench::compose::BenchOptions { iterations });
    print!("{report}");
}
