//! Writes the seed corpus under `seeds/`: a few valid encodings per target.
//!
//! ```sh
//! cd fusion/fuzz && CARGO_TARGET_DIR=target cargo run --example gen_seeds
//! ```
//! The files are named by content, so re-running adds only what changed; delete `seeds/*/*`
//! first to drop seeds of an old encoding.

use std::path::Path;

fn write(dir: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("create the seed directory");
    // FNV-1a: a stable, dependency-free content name.
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    std::fs::write(dir.join(format!("{hash:016x}")), bytes).expect("write a seed");
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let messages = fusion_fuzz::sample_messages();
    for m in &messages {
        let bytes = fusion::wire::encode(m).expect("encode a sample message");
        assert_eq!(&fusion::wire::decode(&bytes).expect("decode it back"), m);
        write(&root.join("decode"), &bytes);
    }
    let calls = fusion_fuzz::sample_calls();
    for c in &calls {
        write(
            &root.join("call_payload"),
            &fusion::call::encode(c).expect("encode a sample call"),
        );
    }
    for extra in [
        fusion::call::encode(&vec![1u32, 2, 3]).unwrap(),
        fusion::call::encode("hi").unwrap(),
    ] {
        write(&root.join("call_payload"), &extra);
    }
    println!(
        "wrote {} decode and {} call_payload seeds under {}",
        messages.len(),
        calls.len() + 2,
        root.display()
    );
}
