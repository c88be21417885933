//! The semantic rules of the web host (issue 8, rules 1-11), proven
//! in-process with the AppTest harness. The WebSocket-level rules (origin,
//! reconnect, grace, cap, streaming over the wire) are in websocket.rs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::executor::block_on;
use pagestate::web::testing::{AppTest, InputSender};
use pagestate::web::{ui, RunStatus, WIDGETS};
use pagestate::{cached, executor, use_state};
use serde_json::json;

// Rule 1: a session's state lives until it closes; closing frees it and its
// session-scoped cache entries. (Per-tab sessions, reconnects and the cap
// are WebSocket-level: websocket.rs.)

#[cached(scope = "session")]
fn per_session_square(n: u64) -> u64 {
    n * n
}

#[test]
fn rule1_closing_a_session_frees_its_state_and_session_cache_entries() {
    struct Tracked(Arc<AtomicUsize>);
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&dropped);
    let mut at = AppTest::new(move || {
        let counter = Arc::clone(&counter);
        use_state!("tracked", factory = move || Tracked(counter));
        ui::text(format!("square {}", per_session_square(7)));
    });
    at.run().run();
    assert!(at.contains_text("square 49"));
    assert_eq!(dropped.load(Ordering::SeqCst), 0, "state survives reruns");
    let entries = per_session_square::stats().entries;
    assert!(entries >= 1);
    at.close();
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "close frees the state");
    assert_eq!(per_session_square::stats().entries, entries - 1);
}

#[test]
fn rule1_two_harnesses_are_two_sessions() {
    let page = || {
        let count = use_state!("count", factory = || 0_u32);
        if ui::button("Add") {
            count.reduce(|n, by| n + by, 1).unwrap();
        }
        ui::text(format!("count {}", count.get().unwrap()));
    };
    let (mut a, mut b) = (AppTest::new(page), AppTest::new(page));
    a.run();
    b.run();
    a.widget("Add").click().run();
    a.widget("Add").click().run();
    assert!(a.contains_text("count 2"));
    b.run();
    assert!(b.contains_text("count 0"));
}

// Rule 2: identity is the key, else kind + label + options; duplicates show
// an exception element naming the widget, without a panic.

#[test]
fn rule2_duplicate_widgets_show_an_exception_naming_them() {
    let mut at = AppTest::new(|| {
        let first = ui::text_input("Name");
        let second = ui::text_input("Name");
        ui::text(format!("[{first}] [{second}]"));
    });
    at.run();
    let exceptions = at.exceptions();
    assert_eq!(exceptions.len(), 1, "{exceptions:?}");
    assert!(exceptions[0].text.contains("DuplicateWidgetID"));
    assert!(exceptions[0].text.contains("text_input"));
    assert!(exceptions[0].text.contains("`Name`"));
    assert!(at.contains_text("[] []"), "the page ran on");
    assert_eq!(at.status(), RunStatus::Complete);
    assert_eq!(at.get("text_input").len(), 1, "the duplicate is not drawn");
}

#[test]
fn rule2_identity_is_key_or_kind_label_options() {
    let mut at = AppTest::new(|| {
        // Same label, other kind, other options, or a key: all distinct.
        ui::text_input("Name");
        ui::text_area("Name");
        ui::selectbox("Pick", &["a", "b"]);
        ui::selectbox("Pick", &["a", "b", "c"]);
        ui::TextInput::new("Name").key("first").show();
        ui::TextInput::new("Name").key("second").show();
        // Same key on another label: a duplicate.
        ui::Checkbox::new("Other").key("first").show();
    });
    at.run();
    let exceptions = at.exceptions();
    assert_eq!(exceptions.len(), 1, "{exceptions:?}");
    assert!(exceptions[0].text.contains("checkbox"));
    let ids: Vec<_> = at
        .elements()
        .into_iter()
        .filter_map(|element| element.widget_id)
        .collect();
    assert_eq!(ids.len(), 6);
    assert!(ids.contains(&"key:first".to_owned()));
}

#[test]
fn rule2_an_unkeyed_widget_keeps_its_value_while_label_and_options_stay() {
    let mut at = AppTest::new(|| {
        let label = use_state!("label", factory = || "Name".to_owned())
            .get()
            .unwrap();
        let name = ui::text_input(label);
        ui::text(format!("name={name}"));
    });
    at.run();
    at.widget("Name").input("Ada").run();
    at.run();
    assert!(at.contains_text("name=Ada"));
    at.session()
        .state::<String>(None, "label")
        .set("Your name".to_owned())
        .unwrap();
    at.run();
    assert!(at.contains_text("name="), "another label is another widget");
    assert!(!at.contains_text("name=Ada"));
}

// Rule 3: a keyed widget's value is session state under WIDGETS; a callback
// writing it changes what the widget shows on the rerun.

#[test]
fn rule3_keyed_values_are_session_state_both_ways() {
    let mut at = AppTest::new(|| {
        let name = ui::TextInput::new("Name").key("name").show();
        let state = use_state!("name", namespace = WIDGETS, type = String);
        assert_eq!(state.get(), Ok(name.clone()));
        ui::Button::new("Reset")
            .on_click(|| {
                use_state!("name", namespace = WIDGETS, type = String)
                    .set("reset by callback".to_owned())
                    .unwrap();
            })
            .show();
        ui::text(format!("name={name}"));
    });
    at.run();
    assert!(at.exceptions().is_empty(), "{:?}", at.exceptions());
    at.widget("Name").input("Ada").run();
    assert_eq!(at.widget_state::<String>("name").as_deref(), Some("Ada"));
    at.widget("Reset").click().run();
    assert!(at.contains_text("name=reset by callback"));
    assert_eq!(
        at.widget("Name").element().value,
        Some(json!("reset by callback"))
    );
    // Page code may also write it before the widget is drawn.
    at.session()
        .state::<String>(WIDGETS, "name")
        .set("from the host".to_owned())
        .unwrap();
    at.run();
    assert!(at.contains_text("name=from the host"));
    assert!(at.exceptions().is_empty());
}

#[test]
fn rule3_a_value_of_the_wrong_type_in_state_is_an_exception_not_a_panic() {
    let mut at = AppTest::new(|| {
        let n = ui::NumberInput::new("N", 5_i64).key("n").show();
        ui::text(format!("n={n}"));
    });
    at.session()
        .state::<String>(WIDGETS, "n")
        .set("five".into())
        .unwrap();
    at.run();
    assert!(at.contains_text("n=5"));
    assert_eq!(at.exceptions().len(), 1);
    assert!(at.exceptions()[0].text.contains("String"));
}

// Rule 4: callbacks of the changed widgets run before the page, in the
// session; unchanged widgets' callbacks do not run.

#[test]
fn rule4_callbacks_of_changed_widgets_run_before_the_page() {
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let page_log = Arc::clone(&log);
    let mut at = AppTest::new(move || {
        let (a, b) = (Arc::clone(&page_log), Arc::clone(&page_log));
        page_log.lock().unwrap().push("page".into());
        let name = ui::TextInput::new("Name")
            .on_change(move || {
                let seen = use_state!("name-changes", factory = || 0_u32);
                seen.reduce(|n, by| n + by, 1).unwrap();
                a.lock().unwrap().push("name changed".into())
            })
            .show();
        ui::Checkbox::new("Flag")
            .on_change(move || b.lock().unwrap().push("flag changed".into()))
            .show();
        let changes = use_state!("name-changes", factory = || 0_u32);
        ui::text(format!("{name} after {} changes", changes.get().unwrap()));
    });
    at.run();
    at.widget("Name").input("Ada").run();
    assert!(at.contains_text("Ada after 1 changes"));
    // The same value again is no change.
    at.widget("Name").input("Ada").run();
    assert!(at.contains_text("Ada after 1 changes"));
    assert_eq!(
        *log.lock().unwrap(),
        vec!["page", "name changed", "page", "page"]
    );
}

#[test]
fn rule4_every_interaction_reruns_the_page() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);
    let mut at = AppTest::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        ui::checkbox("A");
        ui::slider("B", 0, 10);
    });
    at.run();
    at.widget("A").check(true).run();
    at.widget("B").set_value(3).run();
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    assert_eq!(at.runs_completed(), 3);
}

// Rule 5: a button is true in exactly the run that follows its click.

#[test]
fn rule5_a_button_is_true_in_exactly_one_run() {
    let mut at = AppTest::new(|| {
        if ui::button("Go") {
            ui::text("clicked");
        }
        ui::checkbox("Other");
    });
    at.run();
    assert!(!at.contains_text("clicked"));
    at.widget("Go").click().run();
    assert!(at.contains_text("clicked"));
    at.run();
    assert!(!at.contains_text("clicked"));
    at.widget("Other").check(true).run();
    assert!(!at.contains_text("clicked"));
}

// Rule 6: a widget not drawn in a completed run loses its state, unless it
// persists; an interrupted run removes nothing.

#[test]
fn rule6_a_widget_not_drawn_loses_its_state_unless_it_persists() {
    let mut at = AppTest::new(|| {
        let show = ui::Checkbox::new("Show").default(true).show();
        if show {
            ui::TextInput::new("Plain").key("plain").show();
            ui::TextInput::new("Kept").key("kept").persist(true).show();
        }
    });
    at.run();
    at.widget("Plain").input("p").run();
    at.widget("Kept").input("k").run();
    assert_eq!(at.widget_state::<String>("plain").as_deref(), Some("p"));
    at.widget("Show").check(false).run();
    assert_eq!(at.widget_state::<String>("plain"), None, "deleted");
    assert_eq!(at.widget_state::<String>("kept").as_deref(), Some("k"));
    at.widget("Show").check(true).run();
    assert_eq!(at.widget("Plain").element().value, Some(json!("")));
    assert_eq!(at.widget("Kept").element().value, Some(json!("k")));
}

#[test]
fn rule6_an_interrupted_run_removes_no_state() {
    let mut at = AppTest::new(|| {
        let stage = use_state!("stage", factory = || 0_u32);
        let name = ui::TextInput::new("Name").key("name").show();
        if stage.get().unwrap() == 1 {
            // A rerun is asked for: this run stops at its next ui call,
            // before drawing "Other".
            stage.set(2).unwrap();
            ui::rerun_handle().request();
        }
        ui::TextInput::new("Other").key("other").show();
        ui::text(format!("name={name}"));
    });
    at.run();
    at.widget("Other").input("o").run();
    at.session().state::<u32>(None, "stage").set(1).unwrap();
    at.run();
    // Run 1 of this call was interrupted before drawing "Other": its state
    // survived, and the rerun completed.
    assert_eq!(at.widget_state::<String>("other").as_deref(), Some("o"));
    assert_eq!(at.status(), RunStatus::Complete);
}

// Rule 7: form widgets send nothing until the submit button; submit sends
// all their values in one rerun.

#[test]
fn rule7_forms_send_nothing_until_submit() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);
    let mut at = AppTest::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        let (name, age, sent) = ui::form("profile", || {
            let name = ui::text_input("Name");
            let age = ui::number_input("Age", 30_u32);
            (name, age, ui::form_submit_button("Save"))
        });
        ui::text(format!("name={name} age={age} sent={sent}"));
    });
    at.run();
    at.widget("Name").input("Ada");
    at.widget("Age").set_value(36);
    at.run();
    assert!(
        at.contains_text("name= age=30 sent=false"),
        "nothing sent yet"
    );
    at.widget("Save").click().run();
    assert!(at.contains_text("name=Ada age=36 sent=true"));
    let before = runs.load(Ordering::SeqCst);
    at.run();
    assert!(at.contains_text("name=Ada age=36 sent=false"));
    assert_eq!(
        runs.load(Ordering::SeqCst),
        before + 1,
        "one rerun per run()"
    );
    let form = at.get("form");
    assert_eq!(form.len(), 1);
    assert_eq!(at.widget("Name").element().form.as_deref(), Some("profile"));
}

#[test]
fn rule7_form_misuse_is_reported() {
    let mut at = AppTest::new(|| {
        ui::form_submit_button("Lost");
        ui::form("f", || ui::text("one"));
        ui::form("f", || ui::text("two"));
    });
    at.run();
    let messages: Vec<_> = at.exceptions().into_iter().map(|e| e.text).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[0].contains("outside a form"));
    assert!(messages[1].contains("DuplicateFormKey"));
}

// Rule 8: one run at a time; input during a run is merged (newest value
// wins, clicks kept) and interrupts the run at its next ui call; rerun()
// and rerun handles.

/// The page's own handle to send input "from the browser" mid-run.
fn sender() -> InputSender {
    use_state!("sender", type = InputSender).get().unwrap()
}

#[test]
fn rule8_input_during_a_run_interrupts_it_and_merges() {
    let after_interrupt = Arc::new(AtomicUsize::new(0));
    let reached = Arc::clone(&after_interrupt);
    let mut at = AppTest::new(move || {
        let n = ui::TextInput::new("N").key("n").show();
        if n.is_empty() {
            // The user types twice while this run is going on.
            sender().send_value("key:n", json!("first"));
            sender().send_value("key:n", json!("second"));
            ui::text("this call unwinds");
            reached.fetch_add(1, Ordering::SeqCst);
        }
        ui::text(format!("n={n}"));
    });
    let input = at.input_sender();
    at.session().state(None, "sender").set(input).unwrap();
    at.run();
    assert_eq!(after_interrupt.load(Ordering::SeqCst), 0, "interrupted");
    assert!(at.contains_text("n=second"), "the newest value won");
    assert_eq!(at.runs(), 2, "both inputs in one rerun");
    assert_eq!(at.runs_completed(), 1);
    assert!(at.exceptions().is_empty(), "an interruption is no error");
}

#[test]
fn rule8_a_click_during_an_interrupted_run_is_kept() {
    let mut at = AppTest::new(|| {
        let step = use_state!("step", factory = || 0_u32);
        let go = ui::Button::new("Go").key("go").show();
        if step.get().unwrap() == 1 {
            step.set(2).unwrap();
            // A click and newer input arrive while the page works on.
            let sender = sender();
            sender.send_click("key:go");
            sender.send_value("key:size", json!(3));
            sender.send_value("key:size", json!(7));
        }
        let size = ui::Slider::new("Size", 0, 10).key("size").show();
        ui::text(format!("go={go} size={size}"));
    });
    let sender = at.input_sender();
    at.session().state(None, "sender").set(sender).unwrap();
    at.run();
    assert!(at.contains_text("go=false size=0"));
    at.session().state::<u32>(None, "step").set(1).unwrap();
    at.run();
    // Run 1 drew "Go" before the click came: not observed there, so it
    // is not lost; run 2 sees it with the newest size.
    assert!(at.contains_text("go=true size=7"), "{:?}", at.texts("text"));
    at.run();
    assert!(at.contains_text("go=false size=7"));
}

#[test]
fn rule8_a_click_seen_by_an_interrupted_run_is_not_repeated() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let mut at = AppTest::new(move || {
        if ui::Button::new("Go").key("go").show() {
            counter.fetch_add(1, Ordering::SeqCst);
            let step = use_state!("interrupted", factory = || false);
            if !step.get().unwrap() {
                step.set(true).unwrap();
                ui::rerun_handle().request();
            }
        }
        ui::text("end");
    });
    at.run();
    at.widget("Go").click().run();
    assert_eq!(hits.load(Ordering::SeqCst), 1, "true in one run only");
    assert_eq!(at.runs(), 3);
}

#[test]
fn rule8_rerun_from_page_code_reruns_from_the_top() {
    let mut at = AppTest::new(|| {
        let runs = use_state!("runs", factory = || 0_u32);
        let n = runs.reduce(|n, by| n + by, 1).unwrap();
        if n < 3 {
            ui::text("before rerun");
            ui::rerun();
        }
        ui::text(format!("settled after {n} runs"));
    });
    at.run();
    assert!(at.contains_text("settled after 3 runs"));
    assert!(!at.contains_text("before rerun"));
    assert!(at.exceptions().is_empty());
    assert_eq!(at.runs_completed(), 1);
}

#[test]
fn rule8_a_background_job_requests_a_rerun_through_a_handle() {
    let mut at = AppTest::new(|| {
        let handle = ui::rerun_handle();
        let done = use_state!("done", factory = || false);
        if !done.get().unwrap() {
            done.set(true).unwrap();
            std::thread::spawn(move || assert!(handle.request()))
                .join()
                .unwrap();
        }
        ui::text("drawn");
    });
    at.run();
    assert_eq!(at.runs(), 2, "the handle's request reran the page");
    let handle = at.rerun_handle();
    assert!(!at.has_pending_rerun());
    assert!(handle.request());
    assert!(at.has_pending_rerun());
    at.run();
    assert_eq!(at.runs(), 3);
    at.close();
    assert!(!handle.request(), "a closed session takes no reruns");
}

#[executor(thread, with_script_run_context = true)]
fn job_that_reruns_its_tab() -> bool {
    // No page runs on this pool thread: the handle comes from the session.
    ui::rerun_handle().request()
}

#[test]
fn rule8_an_executor_job_with_the_run_context_reruns_its_tab() {
    let mut at = AppTest::new(|| {
        let done = use_state!("job done", factory = || false);
        if !done.get().unwrap() {
            done.set(true).unwrap();
            let requested = block_on(job_that_reruns_its_tab()).unwrap();
            ui::text(format!("requested={requested}"));
        }
        ui::text("end");
    });
    at.run();
    assert_eq!(at.runs(), 2, "the job's request reran the page");
    assert!(!at.contains_text("requested"));
    // A session that no tab serves gets a handle that does nothing.
    let session = pagestate::Session::new();
    assert!(!session.run(|| ui::rerun_handle().request()));
    assert!(std::panic::catch_unwind(ui::rerun_handle).is_err());
}

// Rule 9: output is drawn while the page runs; an interrupted run's elements
// stay until a later run completes (rendering in src/output.rs tests).

#[test]
fn rule9_progress_updates_in_place_and_spinner_is_scoped() {
    let mut at = AppTest::new(|| {
        let bar = ui::progress(0.0, "start");
        let value = ui::spinner("Working...", || {
            bar.set(0.5, "half");
            42
        });
        bar.set(1.0, format!("done {value}"));
    });
    at.run();
    let bars = at.get("progress");
    assert_eq!(bars.len(), 1);
    assert_eq!(bars[0].text, "done 42");
    assert_eq!(bars[0].value, Some(json!(1.0)));
    assert!(at.get("spinner").is_empty(), "gone once its scope ends");
}

// Rule 10: page code awaits executor jobs; jobs with the run context see
// the tab's session.

#[executor(thread, with_script_run_context = true)]
fn count_visit() -> u32 {
    let visits = use_state!("visits", factory = || 0_u32);
    visits.reduce(|n, by| n + by, 1).unwrap()
}

#[executor(thread)]
fn slow_double(n: u32) -> u32 {
    std::thread::sleep(std::time::Duration::from_millis(20));
    n * 2
}

#[test]
fn rule10_page_code_awaits_executor_jobs_in_its_session() {
    let mut at = AppTest::new(|| {
        let (visit, a, b) = ui::spinner("Fetching...", || {
            let (visit, a, b) = (count_visit(), slow_double(1), slow_double(2));
            block_on(async { (visit.await, a.await, b.await) })
        });
        ui::text(format!(
            "visit {} doubles {} {}",
            visit.unwrap(),
            a.unwrap(),
            b.unwrap()
        ));
    });
    at.run();
    assert!(at.contains_text("visit 1 doubles 2 4"));
    at.run();
    assert!(at.contains_text("visit 2 doubles 2 4"));
    assert_eq!(
        at.session().state::<u32>(None, "visits").get(),
        Ok(2),
        "the job wrote the tab's session"
    );
    let mut other = AppTest::new(|| {
        ui::text(format!("visit {}", block_on(count_visit()).unwrap()));
    });
    other.run();
    assert!(
        other.contains_text("visit 1"),
        "another tab, another session"
    );
}

// Rule 11: a page panic is an exception element (message and location) in
// that tab only; the session lives on and the next interaction reruns.

#[test]
fn rule11_a_page_panic_is_an_exception_element_and_the_session_lives_on() {
    let mut at = AppTest::new(|| {
        let count = use_state!("count", factory = || 0_u32);
        ui::text("before");
        if ui::button("Boom") {
            count.reduce(|n, by| n + by, 1).unwrap();
            panic!("boom number {}", count.get().unwrap());
        }
        ui::text(format!("count {}", count.get().unwrap()));
    });
    at.run();
    at.widget("Boom").click().run();
    let exceptions = at.exceptions();
    assert_eq!(exceptions.len(), 1);
    assert_eq!(exceptions[0].text, "boom number 1");
    let location = exceptions[0].location.as_deref().unwrap();
    assert!(location.contains("rules.rs:"), "{location}");
    assert!(at.contains_text("before"));
    assert_eq!(at.status(), RunStatus::Complete);
    at.run();
    assert!(at.exceptions().is_empty());
    assert!(at.contains_text("count 1"), "state kept");
    let mut other = AppTest::new(|| ui::text("fine"));
    other.run();
    assert!(other.exceptions().is_empty());
}

#[test]
fn rule11_a_panic_in_a_callback_is_shown_too() {
    let mut at = AppTest::new(|| {
        ui::Button::new("Bad")
            .on_click(|| panic!("callback failed"))
            .show();
        ui::text("page");
    });
    at.run();
    at.widget("Bad").click().run();
    assert_eq!(at.texts("exception"), vec!["callback failed"]);
    at.run();
    assert!(at.contains_text("page"));
    assert!(at.exceptions().is_empty());
}

#[test]
fn ui_calls_outside_a_page_panic_naming_the_fix() {
    let message = std::panic::catch_unwind(|| ui::text("nowhere"))
        .unwrap_err()
        .downcast::<String>()
        .unwrap();
    assert!(message.contains("ui::text was called outside a page run"));
    assert!(message.contains("App::new(page)"));
    let message = std::panic::catch_unwind(|| ui::button("Go"))
        .unwrap_err()
        .downcast::<String>()
        .unwrap();
    assert!(message.contains("ui::button"));
}
