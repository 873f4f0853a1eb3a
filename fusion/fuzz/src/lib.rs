//! Shared pieces of the fuzz targets: the call-payload type the `call_payload` target decodes,
//! and the sample values the seed generator (`examples/gen_seeds.rs`) encodes.

use fusion::{CallId, CallSerial, FusioneeId, ObjectId, PoolId, ReactorId, RefId};
use std::collections::BTreeMap;
use std::time::Duration;

use fusion::pool::ShmHandle;
use fusion::wire::{Event, Message, PoolInfo, Request, Response, Welcome, API_MAJOR, API_MINOR};
use serde::{Deserialize, Serialize};

/// A rectangle in surface coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rect {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

/// A pixel format, as a surface-creating call names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PixelFormat {
    /// 32-bit ARGB.
    Argb,
    /// 32-bit RGB, alpha ignored.
    Rgb32,
    /// 16-bit RGB 5:6:5.
    Rgb16,
    /// 8-bit alpha only.
    A8,
}

/// A window-stack request as a compositor's call handler would receive it: the kind of
/// payload `fusion::call::decode` turns untrusted bytes into. It exercises every serde shape
/// whose decoding can reject bytes: enum tags, `bool`, `char`, `Option`, UTF-8 strings,
/// sequences, maps, `Duration` (nanosecond range), nested structs and fusion's own types.
/// It is deliberately not recursive: postcard has no nesting limit, so a recursive payload
/// type lets a small packet nest deep enough to overflow the stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WindowCall {
    /// Create a window with a surface.
    Create {
        /// Window title.
        title: String,
        /// Position and size.
        bounds: Rect,
        /// Surface format.
        format: PixelFormat,
        /// Capability bits.
        caps: u32,
        /// A surface the caller allocated already, if any.
        surface: Option<ShmHandle>,
        /// The keyboard shortcut that raises it.
        hotkey: Option<char>,
    },
    /// Move a window by an offset.
    Move {
        /// Which window.
        window: u32,
        /// Horizontal offset.
        dx: i32,
        /// Vertical offset.
        dy: i32,
    },
    /// Show the back buffer.
    Flip {
        /// Which window.
        window: u32,
        /// Dirty rectangles (empty: everything).
        dirty: Vec<Rect>,
        /// Wait for the vertical retrace.
        vsync: bool,
        /// Frame counter.
        frame: u64,
        /// Present no later than this.
        deadline: Option<Duration>,
    },
    /// Set window properties.
    SetProperties {
        /// Which window.
        window: u32,
        /// Name → value.
        props: BTreeMap<String, Vec<u8>>,
    },
    /// Stack operations on several windows at once, each with its outcome so far.
    Restack(Vec<(u32, i16, Result<u8, fusion::Error>)>),
    /// Destroy a window.
    Destroy(u32),
}

/// Valid messages of every top-level kind, encoded as seeds for the `decode` target.
pub fn sample_messages() -> Vec<Message> {
    let handle = ShmHandle {
        pool: PoolId(2),
        offset: 4096,
        len: 640 * 480 * 4,
    };
    vec![
        Message::Hello {
            api_major: API_MAJOR,
            api_minor: API_MINOR,
            abi: 42,
            name: "df_window".into(),
        },
        Message::Welcome(Welcome {
            id: FusioneeId(7),
            master_pid: 1234,
            api_minor: API_MINOR,
            pools: vec![
                PoolInfo {
                    id: PoolId(1),
                    name: "locks".into(),
                    writable: true,
                },
                PoolInfo {
                    id: PoolId(2),
                    name: "surfaces".into(),
                    writable: false,
                },
            ],
            lock_table: 0,
            lock_slots: 256,
            control_size: 65536,
        }),
        Message::Refused(fusion::Error::VersionMismatch("abi 41 != 42".into())),
        Message::Request {
            serial: 1,
            req: Request::Ping,
        },
        Message::Request {
            serial: 2,
            req: Request::CallExecute {
                call: CallId(3),
                arg: -1,
                payload: vec![1, 2, 3, 4],
            },
        },
        Message::Request {
            serial: 3,
            req: Request::ReactorCreate {
                name: "input".into(),
                msg_size: 64,
                capacity: 128,
                lossless: true,
            },
        },
        Message::Request {
            serial: 4,
            req: Request::ArenaSetField {
                arena: "core".into(),
                field: "layers".into(),
                value: vec![0xaa; 32],
            },
        },
        Message::Request {
            serial: 5,
            req: Request::ShmRealloc {
                block: handle,
                size: 1 << 20,
            },
        },
        Message::Reply {
            serial: 5,
            result: Ok(Response::Block(handle)),
        },
        Message::Reply {
            serial: 6,
            result: Ok(Response::Object(fusion::wire::ObjectInfo {
                id: ObjectId(9),
                class: "Surface".into(),
                state: fusion::wire::ObjectState::Active,
                reactor: ReactorId(4),
                r#ref: RefId(5),
                owners: vec![FusioneeId(1), FusioneeId(7)],
                data: Some(handle),
            })),
        },
        Message::Reply {
            serial: 7,
            result: Err(fusion::Error::Busy),
        },
        Message::OneWay(vec![
            Request::RefUp {
                r: RefId(3),
                global: false,
            },
            Request::ReactorDispatch {
                reactor: ReactorId(4),
                channel: 0,
                to_self: false,
                payload: vec![9; 16],
            },
            Request::RefDown {
                r: RefId(3),
                global: false,
            },
        ]),
        Message::Event(Event::Call {
            serial: CallSerial(11),
            call: CallId(3),
            caller: FusioneeId(7),
            arg: 0,
            payload: b"hi".to_vec(),
            oneway: false,
        }),
        Message::Event(Event::LeaveRequested { timeout_ms: 500 }),
        Message::CallReturn {
            serial: CallSerial(11),
            result: Ok(vec![2, b'o', b'k']),
        },
    ]
}

/// Valid payloads for the `call_payload` target.
pub fn sample_calls() -> Vec<WindowCall> {
    vec![
        WindowCall::Create {
            title: "Terminal — ünïcode".into(),
            bounds: Rect {
                x: -10,
                y: 20,
                w: 640,
                h: 480,
            },
            format: PixelFormat::Argb,
            caps: 0x11,
            surface: Some(ShmHandle {
                pool: PoolId(2),
                offset: 0,
                len: 640 * 480 * 4,
            }),
            hotkey: Some('λ'),
        },
        WindowCall::Move {
            window: 3,
            dx: -5,
            dy: 7,
        },
        WindowCall::Flip {
            window: 3,
            dirty: vec![Rect {
                x: 0,
                y: 0,
                w: 16,
                h: 16,
            }],
            vsync: true,
            frame: 1 << 40,
            deadline: Some(Duration::new(1, 500_000_000)),
        },
        WindowCall::SetProperties {
            window: 3,
            props: [
                ("opacity".to_string(), vec![200]),
                ("name".to_string(), b"x".to_vec()),
            ]
            .into_iter()
            .collect(),
        },
        WindowCall::Restack(vec![(1, -1, Ok(0)), (2, 1, Err(fusion::Error::Locked))]),
        WindowCall::Destroy(3),
    ]
}
