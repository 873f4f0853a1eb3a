//! The fusionfb client protocol as the master receives it: `fusion::call::decode` of a
//! [`fusionfb_protocol::Request`] from arbitrary call payloads (what any slave may send the
//! master's entry call), and [`fusionfb_protocol::Scene::decode_reply`] of arbitrary
//! replies (what `fusionfb status` reads from any master). Neither may panic; a request
//! that decodes re-encodes to bytes that decode and encode to the same bytes (bytes, not
//! `==`: a NaN coordinate is not equal to itself; the master refuses non-finite ones).
#![no_main]

use fusion::call::{decode, encode};
use fusionfb_protocol::{Request, Scene};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    if let Ok(req) = decode::<Request>(payload) {
        let bytes = encode(&req).expect("a decoded request must re-encode");
        let again = decode::<Request>(&bytes).expect("a re-encoded request must decode");
        assert_eq!(
            encode(&again).expect("re-encodes"),
            bytes,
            "round trip changed the request"
        );
    }
    let _ = Scene::decode_reply(payload);
});
