//! Every element and widget of `pagestate::web::ui`, through the AppTest
//! harness: what it draws, what it returns, what input it accepts.

use pagestate::web::testing::AppTest;
use pagestate::web::{ui, Area};
use serde::Serialize;
use serde_json::json;

#[test]
fn text_elements_draw_their_text() {
    let mut at = AppTest::new(|| {
        ui::title("The title");
        ui::header("A header");
        ui::text("plain\n  text");
        ui::markdown("**bold** <b>raw</b>");
        ui::code("fn main() {}", "rust");
        ui::info("for your information");
        ui::success("it worked");
        ui::warning("careful");
        ui::error("it failed");
        ui::divider();
    });
    at.run();
    let kinds: Vec<_> = at.elements().iter().map(|element| element.kind).collect();
    assert_eq!(
        kinds,
        [
            "title", "header", "text", "markdown", "code", "info", "success", "warning", "error",
            "divider"
        ]
    );
    assert_eq!(at.texts("title"), ["The title"]);
    assert_eq!(at.texts("text"), ["plain\n  text"]);
    assert_eq!(at.texts("markdown"), ["**bold** <b>raw</b>"]);
    assert_eq!(at.texts("code"), ["fn main() {}"]);
    assert_eq!(at.texts("error"), ["it failed"]);
    let html = at.html(Area::Main);
    assert!(html.contains("<strong>bold</strong>"), "{html}");
    assert!(
        html.contains("&lt;b&gt;raw&lt;/b&gt;"),
        "raw HTML is text: {html}"
    );
    assert!(html.contains(r#"data-language="rust""#));
    assert!(html.contains("<hr>"));
}

#[test]
fn everything_drawn_is_escaped() {
    const EVIL: &str = "<img src=x onerror=alert(1)>";
    let mut at = AppTest::new(|| {
        let typed = ui::text_input(EVIL);
        ui::title(EVIL);
        ui::text(&typed);
        ui::markdown(&typed);
        ui::code(&typed, EVIL);
        ui::json(&typed);
        ui::table(&[[&typed]]);
        ui::warning(&typed);
        ui::selectbox(EVIL, &[EVIL]);
        ui::expander(EVIL, || ui::Button::new(EVIL).key(EVIL).help(EVIL).show());
        ui::line_chart(&[(EVIL, vec![1.0, 2.0])]);
        ui::progress(0.5, EVIL);
        if !typed.is_empty() {
            panic!("{typed}");
        }
    });
    at.run();
    at.widget(EVIL).input(EVIL).run();
    assert_eq!(at.exceptions().len(), 1);
    for area in [Area::Main, Area::Sidebar] {
        let html = at.html(area);
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("onerror=alert(1)>"), "{html}");
    }
    assert!(at
        .html(Area::Main)
        .contains("&lt;img src=x onerror=alert(1)&gt;"));
}

#[derive(Serialize)]
struct Row {
    city: &'static str,
    people: u32,
}

#[test]
fn json_and_table_take_any_serialize() {
    let mut at = AppTest::new(|| {
        ui::json(&json!({"a": [1, 2], "b": null}));
        ui::table(&[
            Row {
                city: "Oslo",
                people: 700_000,
            },
            Row {
                city: "Bergen",
                people: 290_000,
            },
        ]);
        ui::table(&[1, 2, 3]);
        #[derive(Serialize)]
        struct Unsorted {
            zeta: u8,
            alpha: u8,
        }
        ui::table(&[Unsorted { zeta: 1, alpha: 2 }]);
    });
    at.run();
    let json_text = &at.texts("json")[0];
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(json_text).unwrap(),
        json!({"a": [1, 2], "b": null})
    );
    assert_eq!(
        at.texts("table"),
        [
            "city\tpeople\nOslo\t700000\nBergen\t290000",
            "value\n1\n2\n3",
            "zeta\talpha\n1\t2",
        ]
    );
    assert!(at.html(Area::Main).contains("<th>city</th>"));
}

#[test]
fn json_of_an_unserialisable_value_is_an_exception() {
    struct Bad;
    impl Serialize for Bad {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("nope"))
        }
    }
    let mut at = AppTest::new(|| {
        ui::json(&Bad);
        ui::table(&[Bad]);
        ui::text("after");
    });
    at.run();
    assert_eq!(at.exceptions().len(), 2);
    assert!(at.exceptions()[0].text.contains("nope"));
    assert!(at.contains_text("after"));
}

#[test]
fn line_chart_draws_svg_with_its_series() {
    let mut at = AppTest::new(|| {
        ui::line_chart(&[
            ("sales", vec![1.0, 3.0, 2.0, f64::NAN]),
            ("costs", vec![0.5, 0.5]),
        ]);
        ui::line_chart(&[("flat", [2.0; 3])]);
        ui::line_chart::<&str, Vec<f64>>(&[]);
    });
    at.run();
    assert_eq!(at.texts("line_chart"), ["sales, costs", "flat", ""]);
    let html = at.html(Area::Main);
    assert_eq!(html.matches("<svg").count(), 3);
    assert!(html.contains("sales") && html.contains("<text"), "{html}");
    assert!(
        html.contains("<polyline") || html.contains("<path"),
        "lines drawn"
    );
}

#[test]
fn layout_containers_hold_their_content() {
    let mut at = AppTest::new(|| {
        let in_sidebar = ui::sidebar(|| {
            ui::header("Side");
            ui::checkbox("Side flag")
        });
        let columns = ui::columns(3);
        columns[0].show(|| ui::text("left"));
        columns[2].show(|| ui::text("right"));
        ui::expander("More", || ui::text("inside"));
        ui::Expander::new("Open")
            .expanded(true)
            .show(|| ui::text("open"));
        ui::text(format!("flag={in_sidebar}"));
    });
    at.run();
    let elements = at.elements();
    let summary: Vec<_> = elements
        .iter()
        .map(|e| (e.kind, e.text.as_str(), e.area))
        .collect();
    assert_eq!(
        summary,
        [
            ("columns", "", Area::Main),
            ("text", "left", Area::Main),
            ("text", "right", Area::Main),
            ("expander", "More", Area::Main),
            ("text", "inside", Area::Main),
            ("expander", "Open", Area::Main),
            ("text", "open", Area::Main),
            ("text", "flag=false", Area::Main),
            ("header", "Side", Area::Sidebar),
            ("checkbox", "Side flag", Area::Sidebar),
        ]
    );
    let html = at.html(Area::Main);
    assert_eq!(html.matches(r#"data-testid="column""#).count(), 3);
    assert!(html.contains("<details open"));
    at.widget("Side flag").check(true).run();
    assert!(at.contains_text("flag=true"));
}

#[test]
fn a_column_from_an_earlier_run_is_refused() {
    let mut at = AppTest::new(|| {
        let kept = pagestate::use_state!("column", type = ui::Column);
        if let Ok(column) = kept.get() {
            column.show(|| ui::text("never"));
        }
        kept.set(ui::columns(1).remove(0)).unwrap();
    });
    at.run().run();
    assert_eq!(at.exceptions().len(), 1);
    assert!(at.exceptions()[0].text.contains("later run"));
}

#[test]
fn button_and_checkbox() {
    let mut at = AppTest::new(|| {
        let clicked = ui::button("Go");
        let on = ui::Checkbox::new("On").default(true).show();
        let off = ui::checkbox("Off");
        ui::text(format!("{clicked} {on} {off}"));
    });
    at.run();
    assert!(at.contains_text("false true false"));
    assert_eq!(at.widget("On").element().value, Some(json!(true)));
    at.widget("Go").click();
    at.widget("Off").check(true);
    at.widget("On").check(false).run();
    assert!(at.contains_text("true false true"));
}

#[test]
fn text_input_and_text_area() {
    let mut at = AppTest::new(|| {
        let short = ui::TextInput::new("Short")
            .default("abc")
            .placeholder("type")
            .max_chars(5)
            .show();
        let long = ui::TextArea::new("Long").default("x\ny").show();
        ui::text(format!("[{short}] [{long}]"));
    });
    at.run();
    assert!(at.contains_text("[abc] [x\ny]"));
    assert!(at.html(Area::Main).contains(r#"placeholder="type""#));
    assert!(at.html(Area::Main).contains(r#"maxlength="5""#));
    at.widget("Short").input("toolong").run();
    assert!(at.contains_text("[abc]"), "over max_chars: ignored");
    at.widget("Short").input("ok");
    at.widget("Long").input("line 1\nline 2").run();
    assert!(at.contains_text("[ok] [line 1\nline 2]"));
}

#[test]
fn number_input_integer_and_float() {
    let mut at = AppTest::new(|| {
        let age: u8 = ui::NumberInput::new("Age", 30).min(18).max(99).show();
        let ratio = ui::NumberInput::new("Ratio", 0.5).step(0.1).show();
        let big = ui::number_input("Big", -5_i64);
        ui::text(format!("{age} {ratio} {big}"));
    });
    at.run();
    assert!(at.contains_text("30 0.5 -5"));
    assert_eq!(at.widget("Age").element().value, Some(json!(30)));
    at.widget("Age").set_value(40);
    at.widget("Ratio").set_value(0.25);
    at.widget("Big").set_value(-7).run();
    assert!(at.contains_text("40 0.25 -7"));
    // Out of range, fractional for an integer, not a number: ignored.
    at.widget("Age").set_value(120).run();
    at.widget("Age").set_value(3.5).run();
    at.widget("Ratio").set_value("x").run();
    assert!(at.contains_text("40 0.25 -7"));
    let html = at.html(Area::Main);
    assert!(html.contains(r#"min="18""#) && html.contains(r#"max="99""#));
    assert!(html.contains(r#"step="0.1""#));
}

#[test]
fn a_default_outside_the_range_is_clamped() {
    let mut at = AppTest::new(|| {
        let n = ui::NumberInput::new("N", 500).max(10).show();
        let s = ui::Slider::new("S", 0.0, 1.0).default(3.0).show();
        ui::text(format!("{n} {s}"));
    });
    at.run();
    assert!(at.contains_text("10 0"));
}

#[test]
fn slider_integer_and_float() {
    let mut at = AppTest::new(|| {
        let size = ui::slider("Size", 1, 10);
        let level = ui::Slider::new("Level", 0.0, 1.0)
            .default(0.5)
            .step(0.05)
            .show();
        ui::text(format!("{size} {level}"));
    });
    at.run();
    assert!(at.contains_text("1 0.5"));
    at.widget("Size").set_value(7);
    at.widget("Level").set_value(0.75).run();
    assert!(at.contains_text("7 0.75"));
    at.widget("Size").set_value(11).run();
    assert!(at.contains_text("7 0.75"), "out of range: ignored");
    assert!(at.html(Area::Main).contains(r#"type="range""#));
}

#[derive(Clone, Debug, PartialEq)]
enum Colour {
    Red,
    Green,
    Blue,
}

impl std::fmt::Display for Colour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

#[test]
fn selectbox_returns_the_typed_option() {
    let mut at = AppTest::new(|| {
        let colour = ui::selectbox("Colour", &[Colour::Red, Colour::Green, Colour::Blue]);
        let size = ui::Selectbox::new("Size", &["S", "M", "L"]).index(1).show();
        ui::text(format!("{colour:?} {size}"));
    });
    at.run();
    assert!(at.contains_text("Red M"));
    assert_eq!(
        at.widget("Colour").element().options,
        ["Red", "Green", "Blue"]
    );
    at.widget("Colour").select("Blue").run();
    assert!(at.contains_text("Blue M"));
    at.widget("Size").set_value(9).run();
    assert!(at.contains_text("Blue M"), "index out of range: ignored");
}

#[test]
fn selectbox_without_options_is_a_page_error() {
    let mut at = AppTest::new(|| {
        ui::selectbox::<&str>("Empty", &[]);
    });
    at.run();
    assert!(at.exceptions()[0].text.contains("has no options"));
}

#[test]
fn multiselect_returns_the_chosen_options_in_order() {
    let mut at = AppTest::new(|| {
        let picked = ui::Multiselect::new("Toppings", &["ham", "egg", "kale"])
            .default(&["kale", "nope"])
            .show();
        ui::text(picked.join("+"));
    });
    at.run();
    assert_eq!(at.texts("text"), ["kale"]);
    at.widget("Toppings").select_many(&["kale", "ham"]).run();
    assert_eq!(at.texts("text"), ["ham+kale"]);
    assert_eq!(
        at.widget("Toppings").element().value,
        Some(json!(["ham", "kale"]))
    );
    at.widget("Toppings").set_value(json!([0, 7])).run();
    assert_eq!(at.texts("text"), ["ham+kale"], "bad index: ignored");
}

#[test]
fn options_every_widget_takes() {
    let mut at = AppTest::new(|| {
        ui::TextInput::new("Name")
            .key("name")
            .help("Your full name")
            .disabled(true)
            .show();
    });
    at.run();
    let html = at.html(Area::Main);
    assert!(html.contains(r#"data-key="name""#));
    assert!(html.contains(r#"title="Your full name""#));
    assert!(html.contains("disabled"));
    assert_eq!(at.widget("name").element().key.as_deref(), Some("name"));
}

#[test]
fn a_disabled_widget_takes_no_input() {
    let mut at = AppTest::new(|| {
        let name = ui::TextInput::new("Name")
            .default("fixed")
            .disabled(true)
            .show();
        let go = ui::Button::new("Go").disabled(true).show();
        ui::text(format!("{name} {go}"));
    });
    at.run();
    at.widget("Name").input("changed");
    at.widget("Go").click().run();
    assert_eq!(at.texts("text"), ["fixed false"]);
}

#[test]
fn bad_input_is_ignored_without_a_panic() {
    let mut at = AppTest::new(|| {
        let on = ui::checkbox("On");
        let clicked = ui::button("Go");
        ui::text(format!("{on} {clicked}"));
    });
    at.run();
    let checkbox = at.widget("On").element().widget_id.clone().unwrap();
    let button = at.widget("Go").element().widget_id.clone().unwrap();
    at.send_value("no-such-widget", json!(1))
        .send_click("no-such-button")
        .send_value(&checkbox, json!("yes"))
        .send_value(&button, json!(true))
        .send_click(&checkbox)
        .run();
    assert!(at.contains_text("false false"));
    assert!(at.exceptions().is_empty());
    assert_eq!(at.runs_completed(), 2);
}
