fn main() {
    eprintln!("fliplet-agent: not implemented yet");
    std::process::exit(1);
}
