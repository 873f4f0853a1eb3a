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
    // The client protocol: a request of each common kind, and a status reply.
    use fusionfb_protocol::{Injected, Rect, Request, TouchPhase, WindowChange};
    let requests = [
        Request::SurfaceCreate {
            width: 64,
            height: 48,
            format: fusionfb_protocol::FORMAT_XRGB8888,
            buffers: 2,
        },
        Request::SurfaceFlip {
            surface: 1,
            buffer: 0,
            damage: vec![Rect::new(0, 0, 8, 8)],
        },
        Request::WindowCreate {
            surface: 1,
            layer: 0,
            x: 10,
            y: 20,
            opacity: 255,
            visible: true,
        },
        Request::WindowSet {
            window: 2,
            change: WindowChange::InputRegion(Some(vec![Rect::new(0, 0, 4, 4)])),
        },
        Request::Inject(vec![Injected::Touch {
            phase: TouchPhase::Down,
            slot: 0,
            x: 1.0,
            y: 2.0,
        }]),
        Request::Describe,
        Request::SurfaceAdopt {
            id: 1,
            width: 64,
            height: 48,
            format: fusionfb_protocol::FORMAT_XRGB8888,
            front: Some(1),
        },
        Request::WindowAdopt {
            id: 2,
            surface: 1,
            layer: 0,
            x: 0,
            y: 0,
            opacity: 255,
            visible: true,
            stacked: 12345,
        },
        Request::Reload,
        Request::LayerAdopt {
            layer: 0,
            id: 1,
            width: 64,
            height: 48,
            format: fusionfb_protocol::FORMAT_XRGB8888,
            pitch: 256,
            front: Some(1),
        },
    ];
    for r in &requests {
        write(&root.join("protocol_request"), &fusion::call::encode(r).unwrap());
    }
    let scene = fusionfb_protocol::Reply::Scene(Box::default());
    write(&root.join("protocol_request"), &fusion::call::encode(&scene).unwrap());
    // Pixel conversions: the header bytes (formats, size, pitches, slack) then pixels.
    for (sf, df) in [(0u8, 2u8), (2, 0), (1, 1)] {
        let mut seed = vec![sf, df, 4, 3, 4, 4, 0, 0];
        seed.extend((0..200u8).map(|b| b.wrapping_mul(37)));
        write(&root.join("pixel_formats"), &seed);
    }
    println!(
        "wrote {} decode, {} call_payload, {} protocol_request and 3 pixel_formats seeds \
         under {}",
        messages.len(),
        calls.len() + 2,
        requests.len() + 1,
        root.display()
    );
}
