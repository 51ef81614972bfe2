//! The tray icon, drawn at run time: a ring that fills clockwise from twelve o'clock with the
//! session window's percent, coloured by the core's `Band` (green below 75 %, amber below 90 %,
//! red from 90 %), with a badge at the lower right while Extra Usage is carrying the user past the
//! limit (blue, a white plus) and one at the upper right while the figures are stale (a
//! hollow grey dot, and the ring itself turns grey).
//!
//! Pure: a spec and a size in, RGBA pixels out. Every pixel is 4×4 supersampled, so edges are
//! anti-aliased at 16, 22, 24 and 32 px alike; stroke widths are whole-pixel multiples at
//! those sizes so the ring does not blur.

use headroom_core::snapshot::Band;

/// The panel the icon sits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Theme {
    /// A light panel: a dark track.
    Light,
    /// A dark panel: a light track.
    Dark,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warning,
    Critical,
}

impl Level {
    pub fn of(percent: f64) -> Level {
        match Band::of(percent) {
            Band::Bad => Level::Critical,
            Band::Warn => Level::Warning,
            Band::Ok => Level::Ok,
        }
    }
}

/// What the icon shows. Equal specs draw equal pixels, so the tray only redraws on change.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IconSpec {
    /// The session window's percent; `None` when unknown (only the track is drawn).
    pub percent: Option<f64>,
    pub stale: bool,
    /// Extra Usage is on and the session or weekly window is at or past 100 %.
    pub on_extra_usage: bool,
    pub theme: Theme,
}

impl IconSpec {
    /// Rounded to whole percents: what the eye can tell apart at 32 px, and what decides a
    /// redraw.
    pub fn key(&self) -> (Option<i64>, bool, bool, Theme) {
        (
            self.percent.map(|p| p.clamp(0.0, 100.0).round() as i64),
            self.stale,
            self.on_extra_usage,
            self.theme,
        )
    }
}

type Rgba = [f32; 4];

const GREEN: [Rgba; 2] = [[0.086, 0.639, 0.290, 1.0], [0.133, 0.773, 0.369, 1.0]];
const AMBER: [Rgba; 2] = [[0.851, 0.467, 0.024, 1.0], [0.961, 0.620, 0.043, 1.0]];
const RED: [Rgba; 2] = [[0.863, 0.149, 0.149, 1.0], [0.937, 0.267, 0.267, 1.0]];
const GREY: [Rgba; 2] = [[0.42, 0.45, 0.50, 1.0], [0.62, 0.65, 0.69, 1.0]];
const BLUE: Rgba = [0.231, 0.510, 0.965, 1.0];
const WHITE: Rgba = [1.0, 1.0, 1.0, 1.0];

fn pick(colours: [Rgba; 2], theme: Theme) -> Rgba {
    match theme {
        Theme::Light => colours[0],
        Theme::Dark => colours[1],
    }
}

/// The level colour the ring is drawn in.
pub fn ring_colour(spec: &IconSpec) -> [u8; 3] {
    let c = fill_colour(spec);
    [0, 1, 2].map(|i| (c[i] * 255.0).round() as u8)
}

fn fill_colour(spec: &IconSpec) -> Rgba {
    if spec.stale {
        return pick(GREY, spec.theme);
    }
    match Level::of(spec.percent.unwrap_or(0.0)) {
        Level::Ok => pick(GREEN, spec.theme),
        Level::Warning => pick(AMBER, spec.theme),
        Level::Critical => pick(RED, spec.theme),
    }
}

fn track_colour(theme: Theme) -> Rgba {
    match theme {
        Theme::Light => [0.0, 0.0, 0.0, 0.22],
        Theme::Dark => [1.0, 1.0, 1.0, 0.30],
    }
}

struct Geometry {
    c: f32,
    outer: f32,
    inner: f32,
    badge_r: f32,
    badge_gap: f32,
    extra_at: (f32, f32),
    stale_at: (f32, f32),
    stroke: f32,
}

fn geometry(size: u32) -> Geometry {
    let s = size as f32;
    // Whole pixels at the common sizes: 16 → 3, 22/24 → 4, 32 → 5.
    let thickness = (s * 0.17).round().max(2.0);
    let outer = s / 2.0 - (s / 32.0).max(0.5);
    let badge_r = (s * 0.21).max(3.0);
    Geometry {
        c: s / 2.0,
        outer,
        inner: outer - thickness,
        badge_r,
        badge_gap: (s / 16.0).max(1.0),
        extra_at: (s - badge_r - 0.25, s - badge_r - 0.25),
        stale_at: (s - badge_r - 0.25, badge_r + 0.25),
        stroke: (s / 11.0).max(1.2),
    }
}

/// The colour of the topmost shape at a point (x, y in pixels), if any.
fn shade(spec: &IconSpec, g: &Geometry, x: f32, y: f32) -> Option<Rgba> {
    let in_circle = |(cx, cy): (f32, f32), r: f32| (x - cx).powi(2) + (y - cy).powi(2) <= r * r;
    if spec.on_extra_usage {
        if in_circle(g.extra_at, g.badge_r) {
            let (dx, dy) = ((x - g.extra_at.0).abs(), (y - g.extra_at.1).abs());
            let arm = g.badge_r * 0.62;
            let plus = (dx <= g.stroke / 2.0 && dy <= arm) || (dy <= g.stroke / 2.0 && dx <= arm);
            return Some(if plus { WHITE } else { BLUE });
        }
        if in_circle(g.extra_at, g.badge_r + g.badge_gap) {
            return None;
        }
    }
    if spec.stale {
        if in_circle(g.stale_at, g.badge_r) {
            let hole = in_circle(g.stale_at, g.badge_r - g.stroke * 1.1);
            return if hole {
                None
            } else {
                Some(pick(GREY, spec.theme))
            };
        }
        if in_circle(g.stale_at, g.badge_r + g.badge_gap) {
            return None;
        }
    }
    let (dx, dy) = (x - g.c, y - g.c);
    let r2 = dx * dx + dy * dy;
    if r2 > g.outer * g.outer || r2 < g.inner * g.inner {
        return None;
    }
    if let Some(p) = spec.percent {
        let fraction = (p / 100.0).clamp(0.0, 1.0) as f32;
        // Clockwise from twelve o'clock, in [0, 1).
        let angle = dx.atan2(-dy);
        let turn = if angle < 0.0 {
            angle / std::f32::consts::TAU + 1.0
        } else {
            angle / std::f32::consts::TAU
        };
        if turn < fraction {
            return Some(fill_colour(spec));
        }
    }
    Some(track_colour(spec.theme))
}

/// Draws the icon: `size × size` RGBA, 8 bits a channel, straight (not premultiplied) alpha.
pub fn render(spec: &IconSpec, size: u32) -> Vec<u8> {
    const N: u32 = 4;
    let g = geometry(size);
    let mut out = Vec::with_capacity((size * size * 4) as usize);
    for py in 0..size {
        for px in 0..size {
            // Premultiplied sums over the samples.
            let mut acc = [0.0f32; 4];
            for sy in 0..N {
                for sx in 0..N {
                    let x = px as f32 + (sx as f32 + 0.5) / N as f32;
                    let y = py as f32 + (sy as f32 + 0.5) / N as f32;
                    if let Some([r, gr, b, a]) = shade(spec, &g, x, y) {
                        acc[0] += r * a;
                        acc[1] += gr * a;
                        acc[2] += b * a;
                        acc[3] += a;
                    }
                }
            }
            let samples = (N * N) as f32;
            let alpha = acc[3] / samples;
            if alpha <= 0.0 {
                out.extend_from_slice(&[0, 0, 0, 0]);
                continue;
            }
            for channel in &acc[..3] {
                out.push(((channel / acc[3]) * 255.0).round().clamp(0.0, 255.0) as u8);
            }
            out.push((alpha * 255.0).round().clamp(0.0, 255.0) as u8);
        }
    }
    out
}

/// The size to draw for the tray: what the platform shows, at 2× where panels scale.
pub fn tray_size() -> u32 {
    if cfg!(target_os = "macos") {
        // 22 pt menu bar, drawn for Retina.
        44
    } else if cfg!(windows) {
        32
    } else {
        // AppIndicator panels scale a larger image down cleanly; 32 stays crisp at 22–24.
        32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(percent: Option<f64>) -> IconSpec {
        IconSpec {
            percent,
            stale: false,
            on_extra_usage: false,
            theme: Theme::Dark,
        }
    }

    /// Pixels (alpha-weighted) whose colour is close to `rgb`.
    fn coverage(px: &[u8], rgb: [u8; 3]) -> f64 {
        px.chunks(4)
            .filter(|p| (0..3).all(|i| (p[i] as i32 - rgb[i] as i32).abs() <= 24))
            .map(|p| p[3] as f64 / 255.0)
            .sum()
    }

    fn alpha_in(px: &[u8], size: u32, x0: u32, y0: u32, x1: u32, y1: u32) -> f64 {
        let mut sum = 0.0;
        for y in y0..y1 {
            for x in x0..x1 {
                sum += px[((y * size + x) * 4 + 3) as usize] as f64 / 255.0;
            }
        }
        sum
    }

    #[test]
    fn every_size_draws_a_full_buffer() {
        for size in [16, 22, 24, 32, 44, 64] {
            let px = render(&spec(Some(50.0)), size);
            assert_eq!(px.len(), (size * size * 4) as usize);
            assert!(px.chunks(4).any(|p| p[3] == 255), "{size}: no opaque pixel");
            // Anti-aliased: some partly covered edge pixels.
            assert!(
                px.chunks(4).any(|p| p[3] > 0 && p[3] < 255),
                "{size}: no soft edge"
            );
            // Nothing touches the corners (the ring is round, no badge here).
            assert_eq!(px[3], 0);
        }
    }

    #[test]
    fn the_filled_arc_grows_with_the_percent() {
        for size in [16, 22, 24, 32] {
            let mut last = -1.0;
            for p in [0.0, 10.0, 25.0, 50.0, 74.0] {
                let s = spec(Some(p));
                let c = coverage(&render(&s, size), ring_colour(&s));
                assert!(c > last, "{size} px at {p} %: {c} not above {last}");
                last = c;
            }
            // Full: the whole ring is the fill colour, no track left.
            let s = spec(Some(100.0));
            let full = render(&s, size);
            let total_alpha: f64 = full.chunks(4).map(|p| p[3] as f64 / 255.0).sum();
            assert!(coverage(&full, ring_colour(&s)) > 0.95 * total_alpha);
        }
    }

    #[test]
    fn the_colour_follows_the_level() {
        assert_eq!(Level::of(74.9), Level::Ok);
        assert_eq!(Level::of(75.0), Level::Warning);
        assert_eq!(Level::of(89.9), Level::Warning);
        assert_eq!(Level::of(90.0), Level::Critical);
        let green = ring_colour(&spec(Some(10.0)));
        let amber = ring_colour(&spec(Some(80.0)));
        let red = ring_colour(&spec(Some(95.0)));
        assert!(green[1] > green[0] && red[0] > red[1] && amber[0] > amber[2]);
        assert_ne!(green, amber);
        assert_ne!(amber, red);
        // The drawn pixels carry it.
        let s = spec(Some(95.0));
        assert!(coverage(&render(&s, 32), red) > 20.0);
    }

    #[test]
    fn stale_data_has_its_own_mark_and_a_grey_ring() {
        let size = 32;
        let fresh = render(&spec(Some(60.0)), size);
        let stale_spec = IconSpec {
            stale: true,
            ..spec(Some(60.0))
        };
        let stale = render(&stale_spec, size);
        // The mark: a hollow grey dot at the upper right, cut out of the ring.
        let g = geometry(size);
        let at = |px: &[u8], x: f32, y: f32| {
            let i = ((y as u32 * size + x as u32) * 4) as usize;
            [px[i], px[i + 1], px[i + 2], px[i + 3]]
        };
        let (cx, cy) = g.stale_at;
        assert_eq!(at(&stale, cx, cy)[3], 0, "the dot is hollow");
        assert!(at(&fresh, cx, cy)[3] > 200, "fresh: the ring is there");
        let rim = at(&stale, cx - g.badge_r + g.stroke / 2.0, cy);
        assert!(rim[3] > 200, "{rim:?}");
        assert!(
            coverage(&stale, ring_colour(&stale_spec))
                > coverage(&fresh, ring_colour(&stale_spec)) + 4.0
        );
        // No level colour left: the ring is grey.
        assert!(coverage(&stale, ring_colour(&spec(Some(60.0)))) < 1.0);
        // And it is there at 16 px too.
        let small = render(&stale_spec, 16);
        let fresh_small = render(&spec(Some(60.0)), 16);
        assert_ne!(small, fresh_small);
        assert!(alpha_in(&small, 16, 10, 0, 16, 6) > 3.0);
    }

    #[test]
    fn running_on_extra_usage_has_a_blue_badge() {
        let size = 32;
        let s = IconSpec {
            on_extra_usage: true,
            ..spec(Some(100.0))
        };
        let px = render(&s, size);
        let blue = [59, 130, 246];
        assert!(coverage(&px, blue) > 10.0);
        assert!(coverage(&render(&spec(Some(100.0)), size), blue) < 0.5);
        // The white plus in its middle.
        let g = geometry(size);
        let (cx, cy) = (g.extra_at.0 as u32, g.extra_at.1 as u32);
        let i = ((cy * size + cx) * 4) as usize;
        assert!(
            px[i] > 200 && px[i + 1] > 200 && px[i + 2] > 200,
            "{:?}",
            &px[i..i + 4]
        );
    }

    #[test]
    fn light_and_dark_variants_differ_in_the_track() {
        let dark = render(&spec(Some(0.0)), 24);
        let light = render(
            &IconSpec {
                theme: Theme::Light,
                ..spec(Some(0.0))
            },
            24,
        );
        let mean = |px: &[u8]| {
            let (sum, n) = px
                .chunks(4)
                .filter(|p| p[3] > 0)
                .fold((0u64, 0u64), |(s, n), p| (s + p[0] as u64, n + 1));
            sum / n.max(1)
        };
        assert!(mean(&dark) > 200, "dark panels get a light track");
        assert!(mean(&light) < 60, "light panels get a dark track");
    }

    #[test]
    fn unknown_percent_draws_only_the_track() {
        let s = spec(None);
        let px = render(&s, 32);
        assert!(coverage(&px, ring_colour(&s)) < 0.5);
        assert!(px.chunks(4).any(|p| p[3] > 0));
        assert_eq!(s.key().0, None);
        assert_eq!(spec(Some(61.6)).key().0, Some(62));
        assert_eq!(spec(Some(140.0)).key().0, Some(100));
    }
}
