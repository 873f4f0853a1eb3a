//! Prints the composition benchmark (`fusionfb::compose::bench`) until `fusionfb bench` does.
//!
//! `cargo run --release -p fusionfb --example compose_bench [ITERATIONS]`

fn main() {
    let iterations = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let report =
        fusionfb::compose::bench::run(fusionfb::compose::bench::BenchOptions { iterations });
    print!("{report}");
}
