use std::rc::Rc;

#[pagestate::executor(thread)]
fn count(items: Rc<Vec<u32>>) -> usize {
    items.len()
}

fn main() {}
