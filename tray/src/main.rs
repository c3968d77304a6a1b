//! `fliplet-agent-tray`: the desktop app's light tray mode (Linux). It runs the core's
//! [`Agent`] (every job of the jobs folder on its schedule, runs recorded in the history,
//! notifications of failures, recoveries and stale data) behind a StatusNotifierItem tray
//! icon spoken over D-Bus (`ksni`), and loads no GUI toolkit and no browser engine, so it
//! idles in a few tens of MB instead of the window process's hundreds.
//!
//! It is one of the two modes of one product (see `fliplet_agent::app::instance`): the window
//! process (`fliplet-agent-app`) starts it when its window closes (`--handoff`) and execs
//! it when launched `--hidden` (autostart); its Open menu item starts the window process,
//! which asks this process to hand the agent over: it lets its runs in flight finish, stops
//! and exits. Only the holder of the agent lock runs schedules, so never two at once.

#[cfg(target_os = "linux")]
mod light;

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    light::main()
}

#[cfg(not(target_os = "linux"))]
fn main() -> std::process::ExitCode {
    eprintln!(
        "fliplet-agent-tray runs on Linux; elsewhere the app keeps its agent in the window process."
    );
    std::process::ExitCode::FAILURE
}
