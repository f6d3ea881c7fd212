//! A small SVG line chart with logarithmic axes: enough for latency and
//! throughput by object size, without a plotting dependency.

use std::fmt::Write;

/// One line of a chart.
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Stroke colour.
    pub color: &'static str,
    /// Dashed line.
    pub dashed: bool,
    /// Points `(x, y, y_min, y_max)`; the range is drawn as a whisker.
    pub points: Vec<(f64, f64, f64, f64)>,
}

/// A chart: log-x, log-y, series plus horizontal reference lines.
pub struct Chart {
    /// Title above the plot.
    pub title: String,
    /// X-axis label.
    pub x_label: String,
    /// Y-axis label.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Horizontal reference lines `(label, y, colour)`.
    pub hlines: Vec<(String, f64, &'static str)>,
    /// X tick positions, labelled with this function.
    pub x_ticks: Vec<f64>,
    /// How x ticks are labelled.
    pub x_tick_label: fn(f64) -> String,
}

const W: f64 = 900.0;
const H: f64 = 520.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 260.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;

/// Decades covering `[lo, hi]`, as exponents.
fn decades(lo: f64, hi: f64) -> (i32, i32) {
    let a = lo.log10().floor() as i32;
    let b = hi.log10().ceil() as i32;
    (a, if b > a { b } else { a + 1 })
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `1e3` as `1k`, `1e-1` as `0.1`: decade labels.
fn decade_label(e: i32) -> String {
    match e {
        i32::MIN..=-4 | 10..=i32::MAX => format!("1e{e}"),
        -3..=-1 => format!("{}", 10f64.powi(e)),
        0..=2 => format!("{}", 10i64.pow(e as u32)),
        3..=5 => format!("{}k", 10i64.pow(e as u32 - 3)),
        _ => format!("{}M", 10i64.pow(e as u32 - 6)),
    }
}

/// Renders `chart` as a standalone SVG document.
pub fn render(chart: &Chart) -> String {
    let xs: Vec<f64> = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .chain(chart.x_ticks.iter().copied())
        .filter(|v| *v > 0.0 && v.is_finite())
        .collect();
    let ys: Vec<f64> = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().flat_map(|p| [p.1, p.2, p.3]))
        .chain(chart.hlines.iter().map(|h| h.1))
        .filter(|v| *v > 0.0 && v.is_finite())
        .collect();
    let (xlo, xhi) = bounds(&xs);
    let (ylo, yhi) = decades(bounds(&ys).0, bounds(&ys).1);
    let (lx0, lx1) = (xlo.log10(), xhi.log10().max(xlo.log10() + 1e-9));
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let px = |x: f64| LEFT + (x.log10() - lx0) / (lx1 - lx0) * pw;
    let py = |y: f64| TOP + ph - (y.log10() - ylo as f64) / (yhi - ylo) as f64 * ph;

    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="24" font-size="16" text-anchor="middle">{}</text>
"#,
        LEFT + pw / 2.0,
        esc(&chart.title)
    );
    // Grid and y ticks at each decade.
    for e in ylo..=yhi {
        let y = py(10f64.powi(e));
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + pw,
            LEFT - 6.0,
            y + 4.0,
            decade_label(e)
        );
    }
    for &t in &chart.x_ticks {
        let x = px(t);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#eee"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            TOP + ph,
            TOP + ph + 18.0,
            esc(&(chart.x_tick_label)(t))
        );
    }
    let _ = writeln!(
        s,
        r#"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="black"/>
<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>
<text transform="translate(20,{:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        LEFT + pw / 2.0,
        H - 15.0,
        esc(&chart.x_label),
        TOP + ph / 2.0,
        esc(&chart.y_label)
    );
    let mut legend_y = TOP + 10.0;
    let legend_x = LEFT + pw + 15.0;
    for (label, y, color) in &chart.hlines {
        let yy = py(*y);
        let _ = writeln!(
            s,
            r#"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="{color}" stroke-dasharray="2,4"/>"#,
            LEFT + pw
        );
        legend(&mut s, legend_x, legend_y, color, "2,4", label);
        legend_y += 20.0;
    }
    for series in &chart.series {
        let dash = if series.dashed { "6,4" } else { "none" };
        let mut pts: Vec<&(f64, f64, f64, f64)> = series
            .points
            .iter()
            .filter(|p| p.0 > 0.0 && p.1 > 0.0 && p.1.is_finite())
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let path: Vec<String> = pts
            .iter()
            .map(|p| format!("{:.1},{:.1}", px(p.0), py(p.1)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2" stroke-dasharray="{dash}"/>"#,
            path.join(" "),
            series.color
        );
        for p in pts {
            let (x, y) = (px(p.0), py(p.1));
            let _ = writeln!(
                s,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{c}"/><line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="{c}"/>"#,
                py(p.2.max(f64::MIN_POSITIVE)),
                py(p.3.max(f64::MIN_POSITIVE)),
                c = series.color
            );
        }
        legend(&mut s, legend_x, legend_y, series.color, dash, &series.name);
        legend_y += 20.0;
    }
    s.push_str("</svg>\n");
    s
}

fn legend(s: &mut String, x: f64, y: f64, color: &str, dash: &str, label: &str) {
    let _ = writeln!(
        s,
        r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
        x + 24.0,
        x + 30.0,
        y + 4.0,
        esc(label)
    );
}

fn bounds(v: &[f64]) -> (f64, f64) {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        (1.0, 10.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decade_labels_are_short() {
        assert_eq!(decade_label(0), "1");
        assert_eq!(decade_label(2), "100");
        assert_eq!(decade_label(3), "1k");
        assert_eq!(decade_label(7), "10M");
        assert_eq!(decade_label(-2), "0.01");
    }

    #[test]
    fn a_chart_has_every_series_and_line() {
        let chart = Chart {
            title: "t <1>".into(),
            x_label: "size".into(),
            y_label: "µs".into(),
            series: vec![Series {
                name: "ours".into(),
                color: "red",
                dashed: false,
                points: vec![(64.0, 5.0, 4.0, 6.0), (1024.0, 7.0, 6.0, 8.0)],
            }],
            hlines: vec![("memcpy".into(), 10.0, "gray")],
            x_ticks: vec![64.0, 1024.0],
            x_tick_label: |x| format!("{x}"),
        };
        let svg = render(&chart);
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("t &lt;1&gt;"));
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains(">ours</text>"));
        assert!(svg.contains(">memcpy</text>"));
    }

    #[test]
    fn empty_charts_still_render() {
        let chart = Chart {
            title: "empty".into(),
            x_label: String::new(),
            y_label: String::new(),
            series: Vec::new(),
            hlines: Vec::new(),
            x_ticks: Vec::new(),
            x_tick_label: |x| format!("{x}"),
        };
        assert!(render(&chart).contains("</svg>"));
    }
}
