struct Matrix(Vec<f64>);

struct Summary {
    mean: f64,
}

#[pagestate::executor(process)]
fn summarize(matrix: Matrix, scale: f64) -> Summary {
    Summary {
        mean: matrix.0.iter().sum::<f64>() * scale,
    }
}

fn main() {}
