//! The ids of a world's things, one type each.
//!
//! Every id Fusion hands out — a fusionee, a call, a reactor, a ref, a property, an object,
//! a pool, a skirmish (lock table slot), a reaction, a call's execution awaiting its answer —
//! is a 32-bit number on the wire
//! and in shared memory, and a distinct type in Rust: a reactor id passed where a call id is
//! wanted does not compile. Each is `#[repr(transparent)]` over its `u32`, and serde sees
//! it as that `u32` (a newtype struct, which postcard and JSON encode as its content), so
//! the wire and the snapshot's JSON are the same bytes as when they were bare numbers.
//!
//! The number is public (`.0`, or [`u32::from`]): a program that carries an id through a
//! channel of its own (an application protocol, a log line, a test) converts at that
//! boundary with `RefId(n)` and `id.0`.
//!
//! `Display` and `Debug` both show the bare number, as when ids were `u32`: ids sit inside
//! Debug-formatted collections in what people read (the status table's subscribers, local
//! counts, members and owners, a property's state, log fields), and those read as before.
//!
//! ```
//! use fusion::{CallId, ReactorId};
//! let r = ReactorId(3);
//! assert_eq!(r.to_string(), "3");
//! assert_eq!(u32::from(r), 3);
//! fn wants_call(_: CallId) {}
//! wants_call(CallId(r.0)); // an explicit conversion compiles
//! ```
//!
//! A reactor id where a call id is wanted does not:
//!
//! ```compile_fail,E0308
//! fn wants_call(_: fusion::CallId) {}
//! wants_call(fusion::ReactorId(3));
//! ```

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
        )]
        #[repr(transparent)]
        #[serde(transparent)]
        pub struct $name(pub u32);

        /// The bare number, as `Display` (see the module docs).
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.0, f)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl $name {
            /// The id after this one (ids are handed out in order).
            #[allow(dead_code)]
            pub(crate) fn next(self) -> Self {
                Self(self.0 + 1)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;

            /// Parses the bare number (what Display writes).
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map(Self)
            }
        }

        impl From<$name> for u32 {
            fn from(id: $name) -> u32 {
                id.0
            }
        }
    };
}

id_type! {
    /// A fusionee's id: unique for the world's lifetime, never reused. The master is
    /// [`MASTER_ID`](crate::wire::MASTER_ID); 0 stands for the world itself (the caller of
    /// ref watches and dispatch callbacks) or, in a quota, for every caller.
    FusioneeId
}

id_type! {
    /// Identifies a call (an RPC entry point owned by one fusionee).
    CallId
}

id_type! {
    /// Identifies one execution of a call while its answer is awaited: the master numbers
    /// them, hands the number to the handler ([`CallIn::serial`](crate::CallIn::serial)) and
    /// takes it back with the answer (`call_return`). Not a request's serial, which a slave
    /// chooses for its own requests and which stays a plain `u32` on the wire.
    CallSerial
}

id_type! {
    /// Identifies a reactor.
    ReactorId
}

id_type! {
    /// Identifies a ref.
    RefId
}

id_type! {
    /// Identifies a property.
    PropertyId
}

id_type! {
    /// Identifies an object in the registry.
    ObjectId
}

id_type! {
    /// Identifies a shared-memory pool ([`crate::pool`]).
    PoolId
}

id_type! {
    /// Identifies a skirmish: its slot in the world's lock table.
    SkirmishId
}

id_type! {
    /// Identifies one reaction (an attachment to a reactor's channel) within the process
    /// that attached it: what [`Slave::detach`](crate::Slave::detach) and
    /// [`Master::reactor_detach_local`](crate::Master::reactor_detach_local) take back.
    ReactionId
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An id encodes as its bare number, on the wire (postcard) and in JSON.
    #[test]
    fn encodes_as_its_number() {
        let n: u32 = 300_001;
        assert_eq!(
            postcard::to_stdvec(&RefId(n)).unwrap(),
            postcard::to_stdvec(&n).unwrap()
        );
        assert_eq!(serde_json::to_string(&ReactorId(n)).unwrap(), "300001");
        let back: Option<FusioneeId> =
            postcard::from_bytes(&postcard::to_stdvec(&Some(n)).unwrap()).unwrap();
        assert_eq!(back, Some(FusioneeId(n)));
        assert_eq!(format!("{}", CallId(7)), "7");
        assert_eq!(
            format!("{:?}", vec![FusioneeId(1), FusioneeId(2)]),
            "[1, 2]"
        );
    }
}
