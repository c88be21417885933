//! The web host in a real browser: Debian's headless Chromium, driven over
//! WebDriver (chromedriver + fantoccini), against apps served in-process on
//! a free loopback port. These prove the wire, the client script and what a
//! person sees; the page semantics themselves are tested in-process with
//! `AppTest`.
//!
//! Without `/usr/bin/chromium` and `/usr/bin/chromedriver` each test is
//! skipped with a message on stderr, except in CI (`CI` set), where that
//! fails. Each test that ran says `browser test passed: NAME` on stderr.

#![cfg(unix)]

#[path = "web_browser/support.rs"]
mod support;

#[path = "../examples/app.rs"]
#[allow(dead_code)] // the demo's `main` is not used here
mod demo;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

use fantoccini::key::Key;
use pagestate::use_state;
use pagestate::web::{ui, App};
use serde_json::json;
use support::{run, serve, Browser, Tab};

// ---------------------------------------------------------------------------
// Helpers over the host's DOM conventions: every element is a `div.ps-el`
// with `data-testid` = its kind; widgets carry `data-key` when keyed; the
// body carries `data-status`, `data-run`, `data-runs-completed` and
// `data-session`.

/// The selector of the widget with `key`.
fn keyed(key: &str) -> String {
    format!("[data-key=\"{key}\"]")
}

/// Clicks the button with `key`.
async fn click(tab: &Tab<'_>, key: &str) {
    click_on(tab, &format!("{} button", keyed(key))).await;
}

/// Clicks the element matching `selector`.
async fn click_on(tab: &Tab<'_>, selector: &str) {
    tab.find(selector).await.click().await.expect("click");
}

/// Types `text` into the input with `key` and presses Enter, which sends it.
async fn type_into(tab: &Tab<'_>, key: &str, text: &str) {
    let input = tab.find(&format!("{} .ps-input", keyed(key))).await;
    input.clear().await.expect("clear the input");
    input
        .send_keys(&format!("{text}{}", char::from(Key::Enter)))
        .await
        .expect("type");
}

/// Waits until the tab's latest run completed and returns how many runs
/// have completed in its session.
async fn settled(tab: &Tab<'_>) -> u64 {
    let value = tab
        .wait_js(
            "a completed run",
            "return document.body.dataset.status === 'complete' \
             ? Number(document.body.dataset.runsCompleted) : null;",
        )
        .await;
    value.as_u64().expect("a run count")
}

/// The session id the tab got from the server.
async fn session_of(tab: &Tab<'_>) -> String {
    let value = tab
        .wait_js(
            "a session id",
            "return document.body.dataset.session || null;",
        )
        .await;
    value.as_str().expect("a session id").to_owned()
}

/// Waits until `text` shows and the run that drew it completed.
async fn shows(tab: &Tab<'_>, text: &str) {
    tab.wait_text(text).await;
    settled(tab).await;
}

// ---------------------------------------------------------------------------
// (a) Sessions per tab.

/// A counter, a name and a button whose "clicked" shows in one run only.
fn counter_page() {
    let count = use_state!("count", factory = || 0_u32);
    if ui::Button::new("Add one").key("add").show() {
        count.reduce(|n, by| n + by, 1).unwrap();
    }
    let name = ui::TextInput::new("Your name").key("name").show();
    ui::text(format!("count: {}", count.get().unwrap()));
    ui::text(format!("hello, [{name}]"));
    if ui::Button::new("Once").key("once").show() {
        ui::success("clicked");
    }
}

#[test]
fn two_tabs_have_their_own_sessions() {
    run(async {
        let Some(browser) = Browser::start("two_tabs_have_their_own_sessions").await else {
            return;
        };
        let url = serve(App::new(counter_page)).await;
        let first = browser.open(&url).await;
        shows(&first, "count: 0").await;
        let second = browser.open_tab(&url).await;
        shows(&second, "count: 0").await;
        assert_ne!(session_of(&first).await, session_of(&second).await);

        for expected in 1..=3 {
            click(&first, "add").await;
            shows(&first, &format!("count: {expected}")).await;
        }
        type_into(&first, "name", "Ada").await;
        shows(&first, "hello, [Ada]").await;
        assert!(first.body_text().await.contains("count: 3"));

        // The other tab saw none of it, and its own click counts from zero.
        let text = second.body_text().await;
        assert!(
            text.contains("count: 0") && text.contains("hello, []"),
            "{text}"
        );
        click(&second, "add").await;
        shows(&second, "count: 1").await;
        assert!(first.body_text().await.contains("count: 3"));

        // "clicked" belongs to the one run after the click.
        let before = settled(&first).await;
        click(&first, "once").await;
        first.wait_text("clicked").await;
        assert_eq!(settled(&first).await, before + 1);
        click(&first, "add").await;
        shows(&first, "count: 4").await;
        first.wait_no_text("clicked").await;
        assert!(!second.body_text().await.contains("clicked"));
        browser.finish().await;
    });
}

#[test]
fn eight_tabs_are_live_at_once() {
    run(async {
        let Some(browser) = Browser::start("eight_tabs_are_live_at_once").await else {
            return;
        };
        let url = serve(App::new(counter_page)).await;
        let mut tabs = vec![browser.open(&url).await];
        for _ in 1..8 {
            tabs.push(browser.open_tab(&url).await);
        }
        let mut sessions = Vec::new();
        for tab in &tabs {
            shows(tab, "count: 0").await;
            sessions.push(session_of(tab).await);
        }
        sessions.sort();
        sessions.dedup();
        assert_eq!(sessions.len(), 8, "one session per tab");

        // All eight stay connected: each answers a click, in turn, twice
        // around (a host holding one HTTP/1.1 stream per tab stalls at the
        // seventh, as the browser allows six per host).
        // (Each click waits for its rerun: clicks of one button that arrive
        // during a run merge into one, as in Streamlit.)
        for round in 0..2 {
            for (index, tab) in tabs.iter().enumerate() {
                for click_number in 1..=index + 1 {
                    click(tab, "add").await;
                    let expected = round * (index + 1) + click_number;
                    shows(tab, &format!("count: {expected}")).await;
                }
            }
        }
        for (index, tab) in tabs.iter().enumerate() {
            let text = tab.body_text().await;
            assert!(
                text.contains(&format!("count: {}", 2 * (index + 1))),
                "{text}"
            );
            let status = tab.js("return document.body.dataset.status;", vec![]).await;
            assert_eq!(status, json!("complete"));
        }
        browser.finish().await;
    });
}

// ---------------------------------------------------------------------------
// (b) A slow page: output streams during the run; fast edits coalesce.

/// While set, the slow page's run holds at its second step until released,
/// so the test can look at the tab in the middle of a run.
static HOLD: Mutex<bool> = Mutex::new(false);
static RELEASED: Condvar = Condvar::new();
static SLOW_RUNS_STARTED: AtomicU64 = AtomicU64::new(0);

fn hold_if_asked() {
    let held = HOLD.lock().unwrap_or_else(PoisonError::into_inner);
    // Bounded: a test that failed must not leave a run stuck forever.
    let _ = RELEASED
        .wait_timeout_while(held, Duration::from_secs(60), |held| *held)
        .unwrap_or_else(PoisonError::into_inner);
}

fn set_hold(hold: bool) {
    *HOLD.lock().unwrap_or_else(PoisonError::into_inner) = hold;
    RELEASED.notify_all();
}

fn slow_page() {
    SLOW_RUNS_STARTED.fetch_add(1, Ordering::SeqCst);
    let value = ui::TextInput::new("Value").key("value").show();
    ui::text(format!("shown: [{value}]"));
    let bar = ui::progress(0.0, "starting");
    ui::spinner("Crunching numbers", || {
        for step in 1..=4 {
            std::thread::sleep(Duration::from_millis(60));
            bar.set(f64::from(step) / 4.0, format!("step {step} of 4"));
            if step == 2 {
                hold_if_asked();
            }
        }
    });
    ui::text(format!("finished: [{value}]"));
}

#[test]
fn slow_page_streams_and_coalesces_edits() {
    run(async {
        let Some(browser) = Browser::start("slow_page_streams_and_coalesces_edits").await else {
            return;
        };
        set_hold(true);
        let url = serve(App::new(slow_page)).await;
        let tab = browser.open(&url).await;

        // Mid-run: the spinner and the progress bar at step 2 are on screen
        // while the run is still going.
        tab.wait_text("step 2 of 4").await;
        tab.wait_text("Crunching numbers").await;
        let mid = tab
            .js(
                "return [document.body.dataset.status, \
                  document.querySelector('[data-testid=spinner]') !== null, \
                  document.querySelector('[role=progressbar]').getAttribute('aria-valuenow')];",
                vec![],
            )
            .await;
        assert_eq!(mid, json!(["running", true, "50"]));
        assert!(!tab.body_text().await.contains("finished:"));
        set_hold(false);
        shows(&tab, "finished: []").await;
        assert!(!tab.exists("[data-testid=spinner]").await, "spinner gone");
        let done = tab
            .js(
                "return document.querySelector('[role=progressbar]').getAttribute('aria-valuenow');",
                vec![],
            )
            .await;
        assert_eq!(done, json!("100"));

        // Five edits sent as fast as the page can send them: the tab ends
        // on the last value, after at most two completed runs.
        let before = settled(&tab).await;
        tab.js(
            "var input = document.querySelector('[data-key=value] .ps-input');\n\
             for (var i = 1; i <= 5; i++) {\n\
               input.value = 'edit ' + i;\n\
               input.dispatchEvent(new Event('change', { bubbles: true }));\n\
             }",
            vec![],
        )
        .await;
        shows(&tab, "finished: [edit 5]").await;
        let after = settled(&tab).await;
        assert!(
            after - before <= 2 && after > before,
            "{} completed runs for five fast edits",
            after - before
        );
        let text = tab.body_text().await;
        assert!(text.contains("shown: [edit 5]"), "{text}");
        browser.finish().await;
    });
}

// ---------------------------------------------------------------------------
// (c) Forms, widget state cleanup, reconnecting, reloading.

/// Every run of the form page, with the values it saw.
static FORM_RUNS: Mutex<Vec<(String, String, bool)>> = Mutex::new(Vec::new());

fn form_page() {
    let (first, last, sent) = ui::form("profile", || {
        let first = ui::TextInput::new("First name").key("first").show();
        let last = ui::TextInput::new("Last name").key("last").show();
        let sent = ui::form_submit_button("Save");
        (first, last, sent)
    });
    FORM_RUNS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((first.clone(), last.clone(), sent));
    if sent {
        ui::success(format!("saved: {first} {last}"));
    }
}

#[test]
fn form_sends_nothing_until_submit() {
    run(async {
        let Some(browser) = Browser::start("form_sends_nothing_until_submit").await else {
            return;
        };
        FORM_RUNS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        let url = serve(App::new(form_page)).await;
        let tab = browser.open(&url).await;
        tab.find(&keyed("first")).await;
        let initial = settled(&tab).await;

        type_into(&tab, "first", "Ada").await;
        type_into(&tab, "last", "Lovelace").await;
        assert_eq!(
            settled(&tab).await,
            initial,
            "typing in a form reruns nothing"
        );
        click_on(&tab, "[data-testid=form_submit_button] button").await;
        shows(&tab, "saved: Ada Lovelace").await;
        assert_eq!(settled(&tab).await, initial + 1, "one rerun, on submit");
        let runs = FORM_RUNS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        assert_eq!(
            runs,
            vec![
                (String::new(), String::new(), false),
                ("Ada".to_owned(), "Lovelace".to_owned(), true),
            ],
            "the only rerun carried both values and the submit"
        );
        browser.finish().await;
    });
}

/// A form and, outside it, a counter button.
fn form_and_counter_page() {
    let count = use_state!("count", factory = || 0_u32);
    if ui::Button::new("Add one").key("add").show() {
        count.reduce(|n, by| n + by, 1).unwrap();
    }
    ui::text(format!("count: {}", count.get().unwrap()));
    let (city, sent) = ui::form("trip", || {
        let city = ui::TextInput::new("City").key("city").show();
        (city, ui::form_submit_button("Go"))
    });
    ui::text(format!("going to: [{city}] {sent}"));
}

#[test]
fn unsent_form_input_survives_other_reruns() {
    run(async {
        let Some(browser) = Browser::start("unsent_form_input_survives_other_reruns").await else {
            return;
        };
        let url = serve(App::new(form_and_counter_page)).await;
        let tab = browser.open(&url).await;
        shows(&tab, "count: 0").await;
        type_into(&tab, "city", "Paris").await;
        // A rerun from outside the form: what was typed in the form stays
        // in its box, unsent (Streamlit keeps it too).
        click(&tab, "add").await;
        shows(&tab, "count: 1").await;
        let typed = tab
            .js(
                "return document.querySelector('[data-key=city] .ps-input').value;",
                vec![],
            )
            .await;
        assert_eq!(typed, json!("Paris"));
        assert!(tab.body_text().await.contains("going to: [] false"));
        click_on(&tab, "[data-testid=form_submit_button] button").await;
        shows(&tab, "going to: [Paris] true").await;
        browser.finish().await;
    });
}

/// A keyed input shown only while a checkbox is ticked, and a counter.
fn hiding_page() {
    let count = use_state!("count", factory = || 0_u32);
    if ui::Button::new("Add one").key("add").show() {
        count.reduce(|n, by| n + by, 1).unwrap();
    }
    ui::text(format!("count: {}", count.get().unwrap()));
    let show = ui::Checkbox::new("Show nickname")
        .default(true)
        .key("show")
        .show();
    if show {
        let nick = ui::TextInput::new("Nickname").key("nick").show();
        ui::text(format!("nickname: [{nick}]"));
    } else {
        ui::text("nickname hidden");
    }
}

#[test]
fn hidden_keyed_input_loses_its_state() {
    run(async {
        let Some(browser) = Browser::start("hidden_keyed_input_loses_its_state").await else {
            return;
        };
        let url = serve(App::new(hiding_page)).await;
        let tab = browser.open(&url).await;
        shows(&tab, "nickname: []").await;
        type_into(&tab, "nick", "Bob").await;
        shows(&tab, "nickname: [Bob]").await;

        click_on(&tab, &format!("{} input", keyed("show"))).await;
        shows(&tab, "nickname hidden").await;
        assert!(!tab.exists(&keyed("nick")).await);
        click_on(&tab, &format!("{} input", keyed("show"))).await;
        shows(&tab, "nickname: []").await;
        let value = tab
            .js(
                "return document.querySelector('[data-key=nick] .ps-input').value;",
                vec![],
            )
            .await;
        assert_eq!(value, json!(""), "the input comes back empty");
        browser.finish().await;
    });
}

/// Makes the page remember its WebSocket in `window.__ps_socket` the next
/// time it sends (the client script keeps the socket private).
const CAPTURE_SOCKET: &str = "var send = WebSocket.prototype.send;\n\
     WebSocket.prototype.send = function (data) {\n\
       window.__ps_socket = this;\n\
       return send.call(this, data);\n\
     };";

#[test]
fn reconnect_and_reload_keep_the_session() {
    run(async {
        let Some(browser) = Browser::start("reconnect_and_reload_keep_the_session").await else {
            return;
        };
        let url = serve(App::new(hiding_page)).await;
        let tab = browser.open(&url).await;
        shows(&tab, "count: 0").await;
        let session = session_of(&tab).await;
        tab.js(CAPTURE_SOCKET, vec![]).await;
        click(&tab, "add").await;
        shows(&tab, "count: 1").await;
        type_into(&tab, "nick", "Bob").await;
        shows(&tab, "nickname: [Bob]").await;

        // The page closes its own socket: the client reconnects by itself
        // to the same session, whose state is intact.
        tab.js(
            "window.__ps_closed = window.__ps_socket; window.__ps_socket.close();",
            vec![],
        )
        .await;
        tab.wait_js(
            "the old socket to close",
            "return window.__ps_closed.readyState === WebSocket.CLOSED;",
        )
        .await;
        tab.wait_js(
            "the tab to be connected again",
            "return document.body.dataset.status === 'complete' \
             && window.__ps_closed.readyState === WebSocket.CLOSED;",
        )
        .await;
        click(&tab, "add").await;
        shows(&tab, "count: 2").await;
        let reconnected = tab
            .js(
                "return window.__ps_socket !== window.__ps_closed \
                 && window.__ps_socket.readyState === WebSocket.OPEN;",
                vec![],
            )
            .await;
        assert_eq!(reconnected, json!(true), "the click went over a new socket");
        assert_eq!(session_of(&tab).await, session);
        assert!(tab.body_text().await.contains("nickname: [Bob]"));

        // A reload keeps the session too.
        tab.focus().await.refresh().await.expect("reload");
        shows(&tab, "count: 2").await;
        assert_eq!(session_of(&tab).await, session);
        let text = tab.body_text().await;
        assert!(text.contains("nickname: [Bob]"), "{text}");
        click(&tab, "add").await;
        shows(&tab, "count: 3").await;

        // A new tab is a new session.
        let fresh = browser.open_tab(&url).await;
        shows(&fresh, "count: 0").await;
        assert_ne!(session_of(&fresh).await, session);
        assert!(fresh.body_text().await.contains("nickname: []"));
        browser.finish().await;
    });
}

// ---------------------------------------------------------------------------
// (d) Escaping.

fn echo_page() {
    let said = ui::TextInput::new("Say something").key("said").show();
    ui::text(format!("echo: {said}"));
    ui::markdown(format!("markdown: {said}"));
    ui::header(said.clone());
    ui::info(said);
}

#[test]
fn typed_html_is_shown_as_text_and_never_runs() {
    run(async {
        let Some(browser) = Browser::start("typed_html_is_shown_as_text_and_never_runs").await
        else {
            return;
        };
        let url = serve(App::new(echo_page)).await;
        let tab = browser.open(&url).await;
        shows(&tab, "echo: ").await;
        let attack = "<img src=x onerror=\"window.__ps_pwned = 1\">";
        type_into(&tab, "said", attack).await;
        shows(&tab, &format!("echo: {attack}")).await;
        tab.wait_text(&format!("markdown: {attack}")).await;

        // Control: the same markup, really injected, fires its onerror
        // quickly; so had the page run it, the flag would be set by now.
        tab.js(
            "var probe = document.createElement('div');\n\
             probe.innerHTML = '<img src=x onerror=\"window.__ps_control = 1\">';\n\
             document.body.appendChild(probe);",
            vec![],
        )
        .await;
        tab.wait_js(
            "the control image's onerror",
            "return window.__ps_control === 1;",
        )
        .await;
        let verdict = tab
            .js(
                "return [window.__ps_pwned === undefined, \
                  document.querySelectorAll('#ps-main img, #ps-sidebar img').length];",
                vec![],
            )
            .await;
        assert_eq!(verdict, json!([true, 0]), "the typed markup never ran");
        browser.finish().await;
    });
}

// ---------------------------------------------------------------------------
// (e) A page panic stays in its tab.

fn panicking_page() {
    let count = use_state!("count", factory = || 0_u32);
    if ui::Button::new("Add one").key("add").show() {
        count.reduce(|n, by| n + by, 1).unwrap();
    }
    ui::text(format!("count: {}", count.get().unwrap()));
    if ui::Button::new("Break").key("break").show() {
        panic!("the page broke on purpose");
    }
    ui::text("end of page");
}

#[test]
fn page_panic_shows_in_its_tab_only() {
    run(async {
        let Some(browser) = Browser::start("page_panic_shows_in_its_tab_only").await else {
            return;
        };
        let url = serve(App::new(panicking_page)).await;
        let broken = browser.open(&url).await;
        shows(&broken, "end of page").await;
        let other = browser.open_tab(&url).await;
        shows(&other, "end of page").await;

        click(&broken, "break").await;
        broken.find("[data-testid=exception]").await;
        settled(&broken).await;
        let error = broken
            .js(
                "return document.querySelector('[data-testid=exception]').innerText;",
                vec![],
            )
            .await;
        let error = error.as_str().unwrap_or_default();
        assert!(error.contains("the page broke on purpose"), "{error}");
        assert!(
            error.contains("web_browser.rs"),
            "names the location: {error}"
        );
        assert!(!broken.body_text().await.contains("end of page"));

        // The other tab works on, and sees no error.
        click(&other, "add").await;
        shows(&other, "count: 1").await;
        assert!(!other.exists("[data-testid=exception]").await);

        // The broken tab's next interaction reruns normally.
        click(&broken, "add").await;
        shows(&broken, "end of page").await;
        assert!(broken.body_text().await.contains("count: 1"));
        assert!(!broken.exists("[data-testid=exception]").await);
        browser.finish().await;
    });
}

// ---------------------------------------------------------------------------
// The demo app (examples/app.rs), and the README's screenshot of it.

#[test]
fn demo_app_works_and_is_photographed() {
    run(async {
        let Some(browser) = Browser::start("demo_app_works_and_is_photographed").await else {
            return;
        };
        let url = serve(App::new(demo::page).title("Market dashboard")).await;
        let tab = browser.open(&url).await;
        shows(&tab, "quotes fetched in parallel").await;
        for part in [
            "Market dashboard",
            "ACME",
            "UMBRL",
            "Settings",
            "Your watchlist is empty.",
        ] {
            tab.wait_text(part).await;
        }
        assert!(
            tab.exists("[data-testid=line_chart] svg").await,
            "the chart is drawn"
        );
        assert!(
            tab.exists("[data-testid=table] table").await,
            "the quotes table"
        );

        click(&tab, "watch").await;
        shows(&tab, "Watching: ACME").await;
        type_into(&tab, "quantity", "25").await;
        click_on(&tab, "[data-testid=form_submit_button] button").await;
        shows(&tab, "Order placed: 25 x ACME").await;
        click_on(&tab, &format!("{} input", keyed("raw"))).await;
        shows(&tab, "\"symbol\": \"GLOBX\"").await;
        click_on(&tab, &format!("{} input", keyed("raw"))).await;
        tab.wait_no_text("\"symbol\": \"GLOBX\"").await;
        click(&tab, "risk").await;
        shows(&tab, "Estimated chance of a loss").await;

        // The photograph: the whole page in one tall window, top first, once
        // the progress bar's animation has reached its end.
        tab.focus()
            .await
            .set_window_size(1280, 1660)
            .await
            .expect("resize");
        tab.js("window.scrollTo(0, 0);", vec![]).await;
        tab.wait_js(
            "the progress bar to be drawn full",
            "var bar = document.querySelector('.ps-bar'); \
             var fill = document.querySelector('.ps-bar-fill'); \
             return fill.getBoundingClientRect().width >= bar.getBoundingClientRect().width - 1;",
        )
        .await;
        let png = tab.focus().await.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
        if std::env::var_os("PAGESTATE_UPDATE_SCREENSHOT").is_some() {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/app.png");
            std::fs::create_dir_all(path.parent().expect("docs/")).expect("docs/");
            std::fs::write(&path, &png).expect("write the screenshot");
            support::announce(&format!("screenshot written to {}", path.display()));
        }
        browser.finish().await;
    });
}
