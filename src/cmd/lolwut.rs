//! LOLWUT's computer art: version 5's field of squares that come loose row by row
//! (after Georg Nees's "Schotter", 1968) and version 6's skyline of skyscrapers.
//!
//! Job: draw the pictures redis-server 7.0 draws for `LOLWUT VERSION 5|6`, with its
//! sizes, limits, pixel geometry, character encodings and captions. Redis seeds its
//! randomness from the clock, so its pictures differ on every call; here the random
//! choices come from a small generator seeded by the arguments, so the same request
//! draws the same picture. Where Redis's picture has no randomness (version 5 with at
//! most two rows of squares) the two are identical, byte for byte.
//!
//! Non-goals: argument parsing and the reply (`module::lolwut`).
//!
//! Depends on: std.

/// A grid of pixels, each a small colour number.
struct Canvas {
    width: i32,
    height: i32,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: i32, height: i32, background: u8) -> Canvas {
        Canvas { width, height, pixels: vec![background; (width.max(0) * height.max(0)) as usize] }
    }

    /// Pixels off the canvas are dropped: rotated squares may poke out of it.
    fn set(&mut self, x: i32, y: i32, color: u8) {
        if (0..self.width).contains(&x) && (0..self.height).contains(&y) {
            self.pixels[(x + y * self.width) as usize] = color;
        }
    }

    /// Off the canvas reads as colour 0.
    fn get(&self, x: i32, y: i32) -> u8 {
        if (0..self.width).contains(&x) && (0..self.height).contains(&y) {
            self.pixels[(x + y * self.width) as usize]
        } else {
            0
        }
    }

    /// A straight line between two pixels, both ends included (Bresenham's steps).
    fn line(&mut self, (mut x, mut y): (i32, i32), (to_x, to_y): (i32, i32), color: u8) {
        let (dx, dy) = ((to_x - x).abs(), (to_y - y).abs());
        let step_x = if x < to_x { 1 } else { -1 };
        let step_y = if y < to_y { 1 } else { -1 };
        let mut err = dx - dy;
        loop {
            self.set(x, y, color);
            if x == to_x && y == to_y {
                return;
            }
            let twice = err * 2;
            if twice > -dy {
                err -= dy;
                x += step_x;
            }
            if twice < dx {
                err += dx;
                y += step_y;
            }
        }
    }
}

/// The randomness of the drawings: xorshift64*, seeded by the request's arguments.
struct Dice(u64);

impl Dice {
    fn seeded(parts: &[i64]) -> Dice {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for &p in parts {
            seed = (seed ^ p as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9).rotate_left(31);
        }
        Dice(seed | 1)
    }

    /// A number in 0..=i32::MAX, as C's `rand()` gives.
    fn next(&mut self) -> i32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as i32
    }

    /// A fraction in 0.0..=1.0.
    fn fraction(&mut self) -> f32 {
        self.next() as f32 / i32::MAX as f32
    }

    fn below(&mut self, n: i32) -> i32 {
        self.next() % n
    }
}

/// Version 5: `cols` terminal columns, `per_row` squares across, `per_col` down (the
/// caller has clamped them to Redis's limits: 1..=1000, 1..=200, 1..=200). The first
/// two rows stand straight; further down each square turns and shifts more and more.
pub fn schotter(cols: i64, per_row: i64, per_col: i64, version: &str) -> String {
    // Two pixels per terminal column (braille cells are 2x4 pixels), a margin of two.
    let width = (cols * 2) as i32;
    let margin = if width > 4 { 2 } else { 0 };
    let side = (width - margin * 2) as f32 / per_row as f32;
    let height = (side * per_col as f32 + (margin * 2) as f32) as i32;
    let mut canvas = Canvas::new(width, height, 0);
    let mut dice = Dice::seeded(&[5, cols, per_row, per_col]);
    for row in 0..per_col as i32 {
        for col in 0..per_row as i32 {
            let mut cx = (col as f32 * side + side / 2.0 + margin as f32) as i32;
            let mut cy = (row as f32 * side + side / 2.0 + margin as f32) as i32;
            let mut angle = 0.0f32;
            if row > 1 {
                let disorder = row as f32 / per_col as f32;
                let mut wobble = [0.0f32; 3];
                for w in &mut wobble {
                    *w = dice.fraction() * disorder;
                }
                for w in &mut wobble {
                    if dice.below(2) == 1 {
                        *w = -*w;
                    }
                }
                angle = wobble[0];
                cx += (wobble[1] * side / 3.0) as i32;
                cy += (wobble[2] * side / 3.0) as i32;
            }
            square(&mut canvas, cx, cy, side, angle);
        }
    }
    let mut text = braille(&canvas);
    text.push_str("\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. ");
    text.push_str(version);
    text.push('\n');
    text
}

/// A square of side `side` centred on (cx, cy), turned by `angle` radians: its
/// corners lie on the circle through them, a quarter turn apart.
fn square(canvas: &mut Canvas, cx: i32, cy: i32, side: f32, angle: f32) {
    // The corners' distance from the centre: half the diagonal, i.e. side / sqrt(2)
    // (with Redis's ten-digit root). Single-precision steps where Redis keeps floats,
    // so straight squares land on the same pixels.
    #[allow(clippy::approx_constant)] // Redis's literal, not SQRT_2: the pixels must match.
    let radius = ((side as f64 / 1.4142135623) as f32).round();
    let mut turn = (std::f64::consts::FRAC_PI_4 + angle as f64) as f32;
    let mut corners = [(0, 0); 4];
    for corner in &mut corners {
        let t = turn as f64;
        *corner = (
            (t.sin() * radius as f64 + cx as f64).round() as i32,
            (t.cos() * radius as f64 + cy as f64).round() as i32,
        );
        turn = (turn as f64 + std::f64::consts::FRAC_PI_2) as f32;
    }
    for i in 0..4 {
        canvas.line(corners[i], corners[(i + 1) % 4], 1);
    }
}

/// Renders pixels as braille characters, each a 2-wide, 4-tall block of dots (the
/// dot numbering of U+2800..U+28FF: left column top to bottom 1, 2, 3, then the right
/// column 4, 5, 6, and the bottom row 7, 8), one text line per four pixel rows.
fn braille(canvas: &Canvas) -> String {
    const DOTS: [(i32, i32); 8] = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (0, 3), (1, 3)];
    let mut text = String::new();
    for y in (0..canvas.height).step_by(4) {
        for x in (0..canvas.width).step_by(2) {
            let mut bits = 0u32;
            for (bit, (dx, dy)) in DOTS.iter().enumerate() {
                if canvas.get(x + dx, y + dy) != 0 {
                    bits |= 1 << bit;
                }
            }
            text.push(char::from_u32(0x2800 + bits).expect("a braille pattern"));
        }
        // As Redis: a line break after every line but one at the canvas's very last
        // pixel row, which a step of four rarely meets.
        if y != canvas.height - 1 {
            text.push('\n');
        }
    }
    text
}

/// One skyscraper of version 6: its left edge, size, colour and whether it has lit
/// windows.
struct Tower {
    left: i32,
    width: i32,
    height: i32,
    color: u8,
    windows: bool,
}

/// Version 6: a skyline `cols` characters wide and `rows` tall (clamped by the caller
/// to 1..=1000 each), two rows of grey towers behind a row of black ones with windows,
/// on a white sky, one character per pixel coloured with ANSI escapes.
pub fn skyline(cols: i64, rows: i64, version: &str) -> String {
    let mut canvas = Canvas::new(cols as i32, rows as i32, 3);
    let mut dice = Dice::seeded(&[6, cols, rows]);
    let h = canvas.height;
    // The lighter grey first, so the darker towers stand in front of it.
    for color in [2u8, 1] {
        let mut left = -10;
        while left < canvas.width {
            left += dice.below(8);
            let width = 10 + dice.below(9);
            let height = if color == 2 { h / 2 + dice.below(h) / 2 } else { h / 2 + dice.below(h) / 3 };
            tower(&mut canvas, &mut dice, &Tower { left, width, height, color, windows: false });
            left += if color == 2 { width / 2 } else { width + 1 };
        }
    }
    let mut left = -10;
    while left < canvas.width {
        left += dice.below(8);
        let mut width = 5 + dice.below(14);
        if width % 4 != 0 {
            width += width % 3;
        }
        let height = h / 3 + dice.below(h) / 2;
        tower(&mut canvas, &mut dice, &Tower { left, width, height, color: 0, windows: true });
        left += width + 5;
    }
    let mut text = String::new();
    for y in 0..canvas.height {
        for x in 0..canvas.width {
            let code = match canvas.get(x, y) {
                1 => "0;90;100m",
                2 => "0;37;47m",
                3 => "0;97;107m",
                _ => "0;30;40m",
            };
            text.push_str("\x1b[");
            text.push_str(code);
            text.push_str(" \x1b[0m");
        }
        if y != canvas.height - 1 {
            text.push('\n');
        }
    }
    text.push_str("\nDedicated to the 8 bit game developers of past and present.\n");
    text.push_str("Original 8 bit image from Plaguemon by hikikomori. Redis ver. ");
    text.push_str(version);
    text.push('\n');
    text
}

/// Draws a tower standing on the bottom row. Its top row is two pixels narrower on
/// each side; windows are two pixels wide and one tall (terminal cells are taller
/// than wide), on every other row and pair of columns away from the walls, lit in
/// one of the greys that is not the tower's own.
fn tower(canvas: &mut Canvas, dice: &mut Dice, t: &Tower) {
    let bottom = canvas.height - 1;
    let top = bottom - t.height + 1;
    let right = t.left + t.width;
    for y in (top..=bottom).rev() {
        for x in t.left..right {
            if y == top && (x <= t.left + 1 || x >= right - 2) {
                continue;
            }
            let mut color = t.color;
            let inside = x > t.left + 1 && x < right - 2 && y > top + 1 && y < bottom - 1;
            if t.windows && inside {
                let (rel_x, rel_y) = (x - (t.left + 1), y - (top + 1));
                if (rel_x / 2) % 2 == 1 && rel_y % 2 == 1 {
                    color = loop {
                        let lit = 1 + dice.below(2) as u8;
                        if lit != t.color {
                            break lit;
                        }
                    };
                    // The window's second pixel takes its first one's colour.
                    if rel_x % 2 == 1 {
                        color = canvas.get(x - 1, y);
                    }
                }
            }
            canvas.set(x, y, color);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_rows_of_squares_stand_straight_and_the_same_request_draws_the_same() {
        let art = schotter(10, 2, 2, "7.0.15");
        let lines: Vec<&str> = art.lines().collect();
        assert_eq!(lines[0], "⠀⡤⠤⠤⠤⡤⠤⠤⠤⡄");
        assert_eq!(lines.len(), 7, "{art}");
        assert_eq!(schotter(66, 8, 12, "7.0.15"), schotter(66, 8, 12, "7.0.15"));
        assert_eq!(skyline(80, 20, "7.0.15"), skyline(80, 20, "7.0.15"));
    }

    #[test]
    fn skyline_has_one_cell_per_column_and_row() {
        let art = skyline(7, 3, "7.0.15");
        let lines: Vec<&str> = art.lines().collect();
        assert_eq!(lines.len(), 3 + 2);
        for l in &lines[..3] {
            assert_eq!(l.matches("\x1b[0m").count(), 7);
        }
    }
}
