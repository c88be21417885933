//! Real-browser tests of the web host.

#[path = "web_browser/support.rs"]
mod support;

use support::{run, Browser};

#[test]
fn smoke_data_url() {
    run(async {
        let Some(browser) = Browser::start("smoke_data_url").await else {
            return;
        };
        let tab = browser.open("data:text/html,<p id=x>hello</p>").await;
        tab.wait_text("hello").await;
        browser.finish().await;
    });
}
