//! `fusion::call::decode` on arbitrary call payloads, for the payload types a handler would
//! ask for: it must never panic, and what it accepts must survive a round trip.
#![no_main]

use std::fmt::Debug;

use fusion::call::{decode, encode};
use fusion_fuzz::WindowCall;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;

fn check<T: Serialize + DeserializeOwned + PartialEq + Debug>(payload: &[u8]) {
    if let Ok(v) = decode::<T>(payload) {
        let bytes = encode(&v).expect("a decoded payload must re-encode");
        let again = decode::<T>(&bytes).expect("a re-encoded payload must decode");
        assert_eq!(again, v, "round trip changed the payload");
    }
}

fuzz_target!(|payload: &[u8]| {
    // The compositor-style request (every serde shape with validity checks).
    check::<WindowCall>(payload);
    // What the world tests and the crate docs pass through calls.
    check::<Vec<u32>>(payload);
    check::<String>(payload);
    // A fusion type forwarded as a payload.
    check::<fusion::wire::Request>(payload);
});
