fn main() {
    // The front end is embedded from ui/dist (built by `npm run ui:build`). On a fresh clone
    // without it, write a placeholder so `cargo build` / `cargo clippy --workspace` work.
    let dist = std::path::Path::new("../ui/dist");
    if !dist.join("index.html").exists() {
        let _ = std::fs::create_dir_all(dist);
        let _ = std::fs::write(
            dist.join("index.html"),
            "<!doctype html><title>Fliplet Agent</title><p>The front end is not built: run <code>npm run ui:build</code>, then rebuild.</p>",
        );
    }
    println!("cargo:rerun-if-changed=../ui/dist");
    tauri_build::build()
}
