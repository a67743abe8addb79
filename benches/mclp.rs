//! One MCLP instance from files, solved exactly and by the heuristic; prints one JSON line.
//! Run by `benches/mclp/run.sh`, which builds the instance and runs spopt on the same files:
//!
//! `MCLP_DIR=dir MCLP_K=50 MCLP_RADIUS_M=800 cargo bench --bench mclp`
//!
//! `dir/demand.csv` (`id,x,y,weight,imd_decile`, EPSG:27700) and `dir/candidates.csv`
//! (`id,x,y`). Timed: the neighbourhoods (`Problem::new`) and each solve.

use std::time::Instant;

use sitefinder::analysis::optimise::{Demand, Model, Problem};

fn read(path: &str) -> Vec<csv::StringRecord> {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    r.records().map(|x| x.unwrap()).collect()
}

fn num(r: &csv::StringRecord, i: usize) -> f64 {
    r[i].parse().unwrap()
}

fn main() {
    let dir =
        std::env::var("MCLP_DIR").expect("MCLP_DIR: the folder with demand.csv and candidates.csv");
    let k: usize = std::env::var("MCLP_K").map_or(50, |v| v.parse().unwrap());
    let radius_m: f64 = std::env::var("MCLP_RADIUS_M").map_or(800.0, |v| v.parse().unwrap());
    let demand: Vec<Demand> = read(&format!("{dir}/demand.csv"))
        .iter()
        .map(|r| Demand {
            pos: [num(r, 1), num(r, 2)],
            weight: num(r, 3),
            decile: r[4].parse().unwrap(),
        })
        .collect();
    let candidates: Vec<[f64; 2]> = read(&format!("{dir}/candidates.csv"))
        .iter()
        .map(|r| [num(r, 1), num(r, 2)])
        .collect();
    let total: f64 = demand.iter().map(|d| d.weight).sum();
    let t = Instant::now();
    let p = Problem::new(demand, candidates, vec![], radius_m, radius_m);
    let build_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let h = p.heuristic(Model::Mclp, k);
    let heuristic_s = t.elapsed().as_secs_f64() + build_s;
    let t = Instant::now();
    let e = p.exact(Model::Mclp, k).unwrap();
    let exact_s = t.elapsed().as_secs_f64() + build_s;
    println!(
        "{{\"exact_seconds\": {exact_s}, \"exact_share\": {}, \"exact_weight\": {}, \"heuristic_seconds\": {heuristic_s}, \"heuristic_share\": {}, \"heuristic_weight\": {}, \"chosen\": {}}}",
        e.objective / total, e.objective, h.objective / total, h.objective, e.chosen.len()
    );
}
