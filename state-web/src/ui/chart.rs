//! The line chart, drawn on the server as SVG by plotters.

use plotters::prelude::*;

use crate::context::with_ctx;
use crate::output::Node;

const SIZE: (u32, u32) = (720, 320);

/// A line chart of one or more named series, each a list of y values at
/// x = 0, 1, 2, ... Non-finite values are skipped.
///
/// ```no_run
/// # use pagestate::web::ui;
/// ui::line_chart(&[("sales", vec![3.0, 4.5, 4.0]), ("costs", vec![2.0, 2.5, 3.5])]);
/// ```
pub fn line_chart<S: AsRef<str>, V: AsRef<[f64]>>(series: &[(S, V)]) {
    let names: Vec<String> = series
        .iter()
        .map(|(name, _)| name.as_ref().to_owned())
        .collect();
    let lines: Vec<(&str, &[f64])> = series
        .iter()
        .map(|(name, values)| (name.as_ref(), values.as_ref()))
        .collect();
    match draw_svg(&lines) {
        Ok(svg) => with_ctx("line_chart", |ctx| {
            ctx.push(Node::Chart { series: names, svg });
        }),
        Err(error) => with_ctx("line_chart", |ctx| {
            ctx.exception(format!("line_chart could not be drawn: {error}"))
        }),
    }
}

fn draw_svg(series: &[(&str, &[f64])]) -> Result<String, Box<dyn std::error::Error>> {
    let finite = || {
        series
            .iter()
            .flat_map(|(_, values)| values.iter().copied())
            .filter(|y| y.is_finite())
    };
    let (mut low, mut high) = finite().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| {
        (lo.min(y), hi.max(y))
    });
    if !low.is_finite() {
        (low, high) = (0.0, 1.0);
    }
    if (high - low).abs() < f64::EPSILON {
        (low, high) = (low - 1.0, high + 1.0);
    }
    let pad = (high - low) * 0.05;
    let longest = series
        .iter()
        .map(|(_, values)| values.len())
        .max()
        .unwrap_or(0);
    let x_max = longest.max(2) as i64 - 1;

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(48)
            .build_cartesian_2d(0..x_max, (low - pad)..(high + pad))?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(238, 238, 238))
            .bold_line_style(RGBColor(220, 220, 220))
            .x_labels((x_max as usize + 1).min(12))
            .label_style(("sans-serif", 13))
            .draw()?;
        for (index, (name, values)) in series.iter().enumerate() {
            let color = Palette99::pick(index).to_rgba();
            let points = values
                .iter()
                .enumerate()
                .filter(|(_, y)| y.is_finite())
                .map(|(x, y)| (x as i64, *y));
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        }
        if series.len() > 1 || series.iter().any(|(name, _)| !name.is_empty()) {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(220, 220, 220))
                .label_font(("sans-serif", 13))
                .draw()?;
        }
        root.present()?;
    }
    Ok(svg)
}
