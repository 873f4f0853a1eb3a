//! One test per rule of the seat model.

use super::*;

fn win(id: WindowId, x: i32, y: i32, w: u32, h: u32) -> InputWindow<'static> {
    InputWindow {
        id,
        focusable: true,
        rect: Rect::new(x, y, w, h),
        space: Space::Output,
        region: None,
        takes_input: true,
    }
}

/// Two overlapping windows on a 100×100 output: 1 below at (0, 0) 60×60, 2 above at
/// (40, 40) 60×60.
fn two() -> Stack<'static> {
    let mut s = Stack::new((100, 100));
    s.windows = vec![win(2, 40, 40, 60, 60), win(1, 0, 0, 60, 60)];
    s
}

fn touch(phase: TouchPhase, slot: u32, x: f32, y: f32) -> Touch {
    Touch { phase, slot, x, y }
}

fn touches(actions: &[Action]) -> Vec<(WindowId, TouchPhase, u32, f32, f32)> {
    actions
        .iter()
        .filter_map(|a| match *a {
            Action::Touch {
                to,
                phase,
                slot,
                x,
                y,
            } => Some((to, phase, slot, x, y)),
            _ => None,
        })
        .collect()
}

fn pointers(actions: &[Action]) -> Vec<(WindowId, PointerKind)> {
    actions
        .iter()
        .filter_map(|a| match *a {
            Action::Pointer { to, kind, .. } => Some((to, kind)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_hit_test_takes_the_topmost_window_under_the_point() {
    let s = two();
    assert_eq!(s.hit(50.5, 50.5).map(|t| t.id), Some(2));
    assert_eq!(s.hit(10.0, 10.0).map(|t| t.id), Some(1));
    assert_eq!(s.hit(10.0, 90.0), None);
    // Rectangles are half-open: the right and bottom edges belong outside.
    assert_eq!(s.hit(59.9, 20.0).map(|t| t.id), Some(1));
    assert_eq!(s.hit(60.0, 20.0), None);
}

#[test]
fn the_hit_test_skips_windows_that_take_no_input_and_honours_input_regions() {
    let mut s = two();
    s.windows[0].takes_input = false;
    assert_eq!(s.hit(50.0, 50.0).map(|t| t.id), Some(1));
    let region = [Rect::new(0, 0, 10, 10)];
    let mut s = two();
    s.windows[0].region = Some(&region);
    // Outside window 2's region: falls through to window 1.
    assert_eq!(s.hit(55.0, 55.0).map(|t| t.id), Some(1));
    // Inside it (local (5, 5)).
    assert_eq!(s.hit(45.0, 45.0).map(|t| t.id), Some(2));
    // An empty region takes nothing.
    let mut s = two();
    s.windows[0].region = Some(&[]);
    assert_eq!(s.hit(80.0, 80.0), None);
}

#[test]
fn an_exclusive_layer_is_hit_in_glass_coordinates_above_the_windows() {
    let mut s = two();
    // The glass is the output turned a quarter: glass (x, y) = (100 - y, x).
    s.to_glass = fusionfb_types::Affine::new([0.0, -1.0, 100.0], [1.0, 0.0, 0.0]);
    s.windows.insert(
        0,
        InputWindow {
            id: 9,
            focusable: false,
            rect: Rect::new(0, 0, 50, 100),
            space: Space::Glass,
            region: None,
            takes_input: true,
        },
    );
    // Output (10.5, 70.5) is glass (29.5, 10.5) → pixel (29, 10): in the layer.
    let t = s.hit(10.5, 70.5).unwrap();
    assert_eq!(t.id, 9);
    assert_eq!(t.local(10.5, 70.5), (29.0, 10.0));
    // Output (10.5, 20.5) is glass pixel (79, 10): not in it, window 1 is.
    assert_eq!(s.hit(10.5, 20.5).map(|t| t.id), Some(1));
}

#[test]
fn a_contact_stays_with_the_window_it_went_down_in_until_it_lifts() {
    let s = two();
    let mut seat = Seat::new();
    let a = seat.touch(&s, touch(TouchPhase::Down, 0, 10.0, 10.0));
    assert_eq!(touches(&a), [(1, TouchPhase::Down, 0, 10.0, 10.0)]);
    // Slides over window 2: still window 1's, in its coordinates.
    let a = seat.touch(&s, touch(TouchPhase::Motion, 0, 80.0, 80.0));
    assert_eq!(touches(&a), [(1, TouchPhase::Motion, 0, 80.0, 80.0)]);
    let a = seat.touch(&s, touch(TouchPhase::Up, 0, 80.0, 80.0));
    assert_eq!(touches(&a), [(1, TouchPhase::Up, 0, 80.0, 80.0)]);
    assert_eq!(seat.touch_grab(0), None);
    // After the up the slot is free: motion goes nowhere.
    assert!(seat
        .touch(&s, touch(TouchPhase::Motion, 0, 1.0, 1.0))
        .is_empty());
}

#[test]
fn several_contacts_keep_their_own_targets_and_a_frame_reaches_each_once() {
    let s = two();
    let mut seat = Seat::new();
    seat.touch(&s, touch(TouchPhase::Down, 0, 10.0, 10.0));
    seat.touch(&s, touch(TouchPhase::Down, 1, 90.0, 90.0));
    seat.touch(&s, touch(TouchPhase::Down, 2, 20.0, 20.0));
    let a = seat.touch(&s, touch(TouchPhase::Frame, 0, 0.0, 0.0));
    let to: Vec<_> = touches(&a).iter().map(|t| (t.0, t.1)).collect();
    assert_eq!(to, [(1, TouchPhase::Frame), (2, TouchPhase::Frame)]);
    // Frame with nothing since the last one: nobody.
    assert!(seat
        .touch(&s, touch(TouchPhase::Frame, 0, 0.0, 0.0))
        .is_empty());
    let a = seat.touch(&s, touch(TouchPhase::Cancel, 1, 5.0, 5.0));
    assert_eq!(touches(&a), [(2, TouchPhase::Cancel, 1, -35.0, -35.0)]);
    assert_eq!(seat.touch_grab(0), Some(1));
    assert_eq!(seat.touch_grab(2), Some(1));
}

#[test]
fn a_down_on_nothing_routes_nothing_until_it_lifts() {
    let s = two();
    let mut seat = Seat::new();
    assert!(seat
        .touch(&s, touch(TouchPhase::Down, 3, 5.0, 95.0))
        .is_empty());
    assert!(seat
        .touch(&s, touch(TouchPhase::Motion, 3, 10.0, 10.0))
        .is_empty());
    assert!(seat
        .touch(&s, touch(TouchPhase::Up, 3, 10.0, 10.0))
        .is_empty());
}

#[test]
fn focus_follows_touch_onto_windows_but_not_onto_exclusive_surfaces() {
    let mut s = two();
    let mut seat = Seat::new();
    let a = seat.touch(&s, touch(TouchPhase::Down, 0, 10.0, 10.0));
    assert_eq!(
        a[0],
        Action::Focus {
            from: None,
            to: Some(1)
        }
    );
    // Focus first, then the touch.
    assert!(matches!(a[1], Action::Touch { to: 1, .. }));
    // A second contact on the same window does not announce focus again.
    let a = seat.touch(&s, touch(TouchPhase::Down, 1, 11.0, 11.0));
    assert_eq!(a.len(), 1);
    s.windows.insert(
        0,
        InputWindow {
            focusable: false,
            ..win(9, 0, 0, 100, 100)
        },
    );
    let a = seat.touch(&s, touch(TouchPhase::Down, 2, 50.0, 50.0));
    assert_eq!(touches(&a).len(), 1);
    assert_eq!(a.len(), 1);
    assert_eq!(seat.focused(), Some(1));
}

#[test]
fn the_pointer_enters_moves_and_leaves() {
    let s = two();
    let mut seat = Seat::new();
    let a = seat.pointer(&s, PointerEvent::MoveTo { x: 10.0, y: 10.0 });
    assert_eq!(pointers(&a), [(1, PointerKind::Enter)]);
    let a = seat.pointer(&s, PointerEvent::Motion { dx: 1.0, dy: 1.0 });
    assert_eq!(pointers(&a), [(1, PointerKind::Motion)]);
    let a = seat.pointer(&s, PointerEvent::MoveTo { x: 80.0, y: 80.0 });
    assert_eq!(
        pointers(&a),
        [(1, PointerKind::Leave), (2, PointerKind::Enter)]
    );
    assert_eq!(
        a[1],
        Action::Pointer {
            to: 2,
            kind: PointerKind::Enter,
            x: 40.0,
            y: 40.0,
            screen: (80.0, 80.0)
        }
    );
    let a = seat.pointer(&s, PointerEvent::MoveTo { x: 10.0, y: 90.0 });
    assert_eq!(pointers(&a), [(2, PointerKind::Leave)]);
    // Over nothing, motion goes nowhere.
    assert!(seat
        .pointer(&s, PointerEvent::Motion { dx: 1.0, dy: 0.0 })
        .is_empty());
}

#[test]
fn the_pointer_stays_on_the_output() {
    let s = two();
    let mut seat = Seat::new();
    seat.pointer(
        &s,
        PointerEvent::Motion {
            dx: -50.0,
            dy: 500.0,
        },
    );
    assert_eq!(seat.pointer_position(), (0.0, 99.0));
    seat.pointer(&s, PointerEvent::MoveTo { x: 400.0, y: -3.0 });
    assert_eq!(seat.pointer_position(), (99.0, 0.0));
}

#[test]
fn a_button_grabs_the_pointer_until_the_last_one_is_released() {
    let s = two();
    let mut seat = Seat::new();
    seat.pointer(&s, PointerEvent::MoveTo { x: 10.0, y: 10.0 });
    let left = 0x110;
    let right = 0x111;
    let a = seat.pointer(
        &s,
        PointerEvent::Button {
            button: left,
            pressed: true,
        },
    );
    assert_eq!(
        a[0],
        Action::Focus {
            from: None,
            to: Some(1)
        }
    );
    assert_eq!(seat.pointer_grab(), Some(1));
    // Dragged over window 2: no enter or leave, motion to window 1.
    let a = seat.pointer(&s, PointerEvent::MoveTo { x: 80.0, y: 80.0 });
    assert_eq!(pointers(&a), [(1, PointerKind::Motion)]);
    seat.pointer(
        &s,
        PointerEvent::Button {
            button: right,
            pressed: true,
        },
    );
    let a = seat.pointer(
        &s,
        PointerEvent::Axis {
            horizontal: 0.0,
            vertical: 1.0,
        },
    );
    assert_eq!(pointers(&a)[0].0, 1);
    let a = seat.pointer(
        &s,
        PointerEvent::Button {
            button: left,
            pressed: false,
        },
    );
    assert_eq!(seat.pointer_grab(), Some(1));
    assert_eq!(pointers(&a).len(), 1);
    // The last release: to the grab, then enter/leave catch up.
    let a = seat.pointer(
        &s,
        PointerEvent::Button {
            button: right,
            pressed: false,
        },
    );
    assert_eq!(
        pointers(&a),
        [
            (
                1,
                PointerKind::Button {
                    button: right,
                    pressed: false
                }
            ),
            (1, PointerKind::Leave),
            (2, PointerKind::Enter)
        ]
    );
    assert_eq!(seat.pointer_grab(), None);
}

#[test]
fn keys_go_to_the_focused_window_or_nowhere() {
    let s = two();
    let mut seat = Seat::new();
    assert_eq!(seat.key(&s), None);
    assert_eq!(
        seat.focus(Some(2)),
        Some(Action::Focus {
            from: None,
            to: Some(2)
        })
    );
    assert_eq!(seat.focus(Some(2)), None);
    assert_eq!(seat.key(&s), Some(Action::Key { to: 2 }));
    assert_eq!(
        seat.focus(Some(1)),
        Some(Action::Focus {
            from: Some(2),
            to: Some(1)
        })
    );
}

#[test]
fn a_window_that_goes_away_takes_its_grabs_and_focus_with_it() {
    let mut s = two();
    let mut seat = Seat::new();
    seat.touch(&s, touch(TouchPhase::Down, 0, 10.0, 10.0));
    seat.touch(&s, touch(TouchPhase::Down, 1, 80.0, 80.0));
    seat.pointer(&s, PointerEvent::MoveTo { x: 10.0, y: 10.0 });
    seat.pointer(
        &s,
        PointerEvent::Button {
            button: 1,
            pressed: true,
        },
    );
    assert_eq!(seat.focused(), Some(1));
    s.windows.retain(|w| w.id != 1);
    seat.forget(1);
    assert_eq!(seat.focused(), None);
    assert_eq!(seat.pointer_grab(), None);
    assert_eq!(seat.pointer_over(), None);
    assert_eq!(seat.touch_grab(0), None);
    assert_eq!(seat.touch_grab(1), Some(2));
    // Its contact's up goes nowhere; the frame reaches only window 2.
    assert!(seat
        .touch(&s, touch(TouchPhase::Up, 0, 0.0, 0.0))
        .is_empty());
    let a = seat.touch(&s, touch(TouchPhase::Frame, 0, 0.0, 0.0));
    assert_eq!(touches(&a).len(), 1);
    assert_eq!(touches(&a)[0].0, 2);
    // The button still held routes like no grab: motion re-hit-tests.
    let a = seat.pointer(&s, PointerEvent::MoveTo { x: 80.0, y: 80.0 });
    assert_eq!(pointers(&a), [(2, PointerKind::Enter)]);
    assert_eq!(seat.key(&s), None);
}

#[test]
fn a_grab_keeps_the_origin_of_its_hit() {
    let mut s = two();
    let mut seat = Seat::new();
    seat.touch(&s, touch(TouchPhase::Down, 0, 50.0, 50.0));
    s.windows[0].rect.x = 0;
    let a = seat.touch(&s, touch(TouchPhase::Motion, 0, 50.0, 50.0));
    assert_eq!(touches(&a), [(2, TouchPhase::Motion, 0, 10.0, 10.0)]);
}
