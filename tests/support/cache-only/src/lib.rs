//! Empty: it lets trybuild's cases see this fixture's features
//! (tests/ui_runtime.rs builds them with `runtime` on).
