//! The touch calibration matrix, as libinput defines it, and how to compute one.
//!
//! A touchscreen reports a position normalized to its own surface, `(x, y)` in `[0, 1]²`. A
//! panel glued slightly off, or a controller with skewed axes, puts that position off the
//! pixel under the finger. The matrix `[a, b, c, d, e, f]` corrects it:
//! `x' = a·x + b·y + c`, `y' = d·x + e·y + f` — exactly libinput's
//! `libinput_device_config_calibration_set_matrix` and udev's `LIBINPUT_CALIBRATION_MATRIX`,
//! so a matrix computed here works in either place. It acts on the panel's own (physical)
//! axes; the output transform is applied after it.
//!
//! [`Calibration::solve`] fits the matrix to touches collected on known targets by least
//! squares (what `ts_calibrate` and `weston-touch-calibrator` do): with three or more targets
//! not on one line, each row of the matrix is the solution of a 3×3 normal system.

/// A measured touch: where the panel said it was (`raw`) and where the target was, both
/// normalized.
pub type Sample = ((f64, f64), (f64, f64));

/// A calibration matrix `[a, b, c, d, e, f]` (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration(pub [f32; 6]);

impl Default for Calibration {
    fn default() -> Self {
        Self::IDENTITY
    }
}

impl Calibration {
    /// The matrix that changes nothing.
    pub const IDENTITY: Calibration = Calibration([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);

    /// Applies the matrix to a normalized position.
    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let m = self.0.map(f64::from);
        (m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5])
    }

    /// The matrix that undoes this one, if it is invertible.
    pub fn inverse(&self) -> Option<Calibration> {
        let [a, b, c, d, e, f] = self.0.map(f64::from);
        let det = a * e - b * d;
        if det.abs() < 1e-12 {
            return None;
        }
        let (ia, ib, id, ie) = (e / det, -b / det, -d / det, a / det);
        let m = [ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f)];
        Some(Calibration(m.map(|v| v as f32)))
    }

    /// The least-squares matrix taking each `raw` position to its `target` (both normalized).
    /// `None` with fewer than three pairs or when the raw points are (nearly) on one line.
    pub fn solve(pairs: &[Sample]) -> Option<Calibration> {
        if pairs.len() < 3 {
            return None;
        }
        // Normal equations: (AᵀA) m = Aᵀt with rows A_i = [x_i, y_i, 1].
        let mut ata = [[0.0f64; 3]; 3];
        let (mut atx, mut aty) = ([0.0f64; 3], [0.0f64; 3]);
        for &((x, y), (tx, ty)) in pairs {
            let row = [x, y, 1.0];
            for i in 0..3 {
                for j in 0..3 {
                    ata[i][j] += row[i] * row[j];
                }
                atx[i] += row[i] * tx;
                aty[i] += row[i] * ty;
            }
        }
        let mx = solve3(ata, atx)?;
        let my = solve3(ata, aty)?;
        let m = [mx[0], mx[1], mx[2], my[0], my[1], my[2]];
        m.iter()
            .all(|v| v.is_finite())
            .then(|| Calibration(m.map(|v| v as f32)))
    }
}

/// Solves the 3×3 system `a·x = b` (Cramer's rule); `None` when it is singular.
fn solve3(a: [[f64; 3]; 3], b: [f64; 3]) -> Option<[f64; 3]> {
    let det = |m: &[[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(&a);
    // Relative to the scale of the entries, so large sample counts are not "singular".
    let scale = a.iter().flatten().fold(0.0f64, |s, v| s.max(v.abs()));
    if d.abs() <= 1e-9 * scale.powi(3) {
        return None;
    }
    let mut x = [0.0; 3];
    for (col, out) in x.iter_mut().enumerate() {
        let mut m = a;
        for row in 0..3 {
            m[row][col] = b[row];
        }
        *out = det(&m) / d;
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Calibration, b: Calibration) -> bool {
        a.0.iter().zip(b.0).all(|(x, y)| (x - y).abs() < 1e-4)
    }

    #[test]
    fn identity_and_inverse() {
        assert_eq!(Calibration::IDENTITY.apply(0.25, 0.75), (0.25, 0.75));
        let m = Calibration([0.9, 0.05, 0.03, -0.02, 1.1, -0.04]);
        let inv = m.inverse().unwrap();
        let (x, y) = m.apply(0.3, 0.6);
        let (bx, by) = inv.apply(x, y);
        assert!((bx - 0.3).abs() < 1e-6 && (by - 0.6).abs() < 1e-6);
        assert!(Calibration([1.0, 2.0, 0.0, 2.0, 4.0, 0.0])
            .inverse()
            .is_none());
    }

    #[test]
    fn solve_recovers_the_matrix_that_undoes_a_distortion() {
        // The panel reports distort(target); the solved matrix must map that back.
        let distort = Calibration([1.05, 0.02, -0.03, -0.01, 0.95, 0.04]);
        let targets = [(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9), (0.5, 0.5)];
        let pairs: Vec<_> = targets
            .iter()
            .map(|&t| (distort.apply(t.0, t.1), t))
            .collect();
        let m = Calibration::solve(&pairs).unwrap();
        assert!(close(m, distort.inverse().unwrap()), "{m:?}");
    }

    #[test]
    fn solve_averages_noise_and_refuses_degenerate_input() {
        let pairs = [
            ((0.1, 0.1), (0.1, 0.1)),
            ((0.9, 0.1), (0.9, 0.1)),
            ((0.5, 0.9), (0.5, 0.9)),
            ((0.5, 0.5), (0.5, 0.5)),
        ];
        assert!(close(
            Calibration::solve(&pairs).unwrap(),
            Calibration::IDENTITY
        ));
        assert!(Calibration::solve(&pairs[..2]).is_none());
        let line = [
            ((0.1, 0.1), (0.0, 0.0)),
            ((0.2, 0.2), (0.0, 0.0)),
            ((0.3, 0.3), (1.0, 1.0)),
        ];
        assert!(Calibration::solve(&line).is_none());
    }
}
