//! Writes the bundle icons in `icons/` from the same renderer as the tray icon: the ring at a
//! representative 62 % on a dark rounded square, so it reads on light and dark desktops alike.
//!
//!     cargo run -p headroom-app --example make_icons
//!
//! PNGs at 32, 128, 256 (`128x128@2x`) and 512 px, `icon.ico` (16–256 px) and `icon.icns`
//! (16–1024 px), both holding PNGs as current Windows and macOS read them.

use std::path::Path;

use headroom_app::icon::{render, IconSpec, Theme};

const BACKGROUND: [f32; 3] = [0.122, 0.137, 0.161];

fn icon(size: u32) -> Vec<u8> {
    let spec = IconSpec {
        percent: Some(62.0),
        stale: false,
        on_extra_usage: false,
        theme: Theme::Dark,
    };
    let ring_size = ((size as f32) * 0.74).round().max(12.0) as u32;
    let ring = render(&spec, ring_size);
    let offset = (size - ring_size) / 2;
    let s = size as f32;
    let radius = s * 0.22;
    let margin = (s / 32.0).max(0.5);
    let inside = |x: f32, y: f32| {
        let (lo, hi) = (margin + radius, s - margin - radius);
        let dx = (x.clamp(lo, hi) - x).abs();
        let dy = (y.clamp(lo, hi) - y).abs();
        x >= margin
            && x <= s - margin
            && y >= margin
            && y <= s - margin
            && dx * dx + dy * dy <= radius * radius
    };
    let mut out = Vec::with_capacity((size * size * 4) as usize);
    for py in 0..size {
        for px in 0..size {
            let mut covered = 0.0;
            for sy in 0..4 {
                for sx in 0..4 {
                    let (x, y) = (
                        px as f32 + (sx as f32 + 0.5) / 4.0,
                        py as f32 + (sy as f32 + 0.5) / 4.0,
                    );
                    if inside(x, y) {
                        covered += 1.0 / 16.0;
                    }
                }
            }
            let mut rgb = BACKGROUND;
            let (rx, ry) = (px.wrapping_sub(offset), py.wrapping_sub(offset));
            if rx < ring_size && ry < ring_size {
                let i = ((ry * ring_size + rx) * 4) as usize;
                let a = ring[i + 3] as f32 / 255.0;
                for c in 0..3 {
                    rgb[c] = rgb[c] * (1.0 - a) + ring[i + c] as f32 / 255.0 * a;
                }
            }
            for c in rgb {
                out.push((c * 255.0).round() as u8);
            }
            out.push((covered * 255.0f32).round() as u8);
        }
    }
    out
}

fn png(size: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, size, size);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("PNG header");
    writer.write_image_data(&icon(size)).expect("PNG data");
    writer.finish().expect("PNG end");
    bytes
}

fn ico(sizes: &[u32]) -> Vec<u8> {
    let images: Vec<(u32, Vec<u8>)> = sizes.iter().map(|&s| (s, png(s))).collect();
    let mut out = vec![0, 0, 1, 0];
    out.extend_from_slice(&(images.len() as u16).to_le_bytes());
    let mut offset = 6 + 16 * images.len() as u32;
    for (size, data) in &images {
        let side = if *size >= 256 { 0 } else { *size as u8 };
        out.extend_from_slice(&[side, side, 0, 0]);
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&32u16.to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        offset += data.len() as u32;
    }
    for (_, data) in &images {
        out.extend_from_slice(data);
    }
    out
}

fn icns() -> Vec<u8> {
    let entries: [(&[u8; 4], u32); 7] = [
        (b"icp4", 16),
        (b"icp5", 32),
        (b"icp6", 64),
        (b"ic07", 128),
        (b"ic08", 256),
        (b"ic09", 512),
        (b"ic10", 1024),
    ];
    let mut body = Vec::new();
    for (kind, size) in entries {
        let data = png(size);
        body.extend_from_slice(kind);
        body.extend_from_slice(&(data.len() as u32 + 8).to_be_bytes());
        body.extend_from_slice(&data);
    }
    let mut out = b"icns".to_vec();
    out.extend_from_slice(&(body.len() as u32 + 8).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../icons");
    let write = |name: &str, bytes: Vec<u8>| {
        std::fs::write(dir.join(name), bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        println!("icons/{name}");
    };
    write("32x32.png", png(32));
    write("128x128.png", png(128));
    write("128x128@2x.png", png(256));
    write("256x256.png", png(256));
    write("icon.png", png(512));
    write("icon.ico", ico(&[16, 24, 32, 48, 64, 256]));
    write("icon.icns", icns());
}
