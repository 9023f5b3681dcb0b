# Decode step time per case on the H100, before and after the speed work,
# beside sglang's Triton kernel and PyTorch eager on the same inputs, with
# the binding roof's floor. From bench/speed_table.py's CSV; run from the
# repository root: gnuplot bench/plot_speed.gp
set terminal pngcairo size 1500,650 font ',10' noenhanced
set output 'bench/results/h100_speed_2026-11-24.png'
set datafile separator ','
set title "MLA decode step on an NVIDIA H100 80GB HBM3 (driver 580.159), bf16, page 64, shuffled pages (2026-11-24)\nzemla through NVIDIA's OpenCL: a proxy for the kernel design, not an Intel figure"
set ylabel 'ms per step (log scale, lower is better)'
set logscale y
set yrange [0.01:20]
set key autotitle columnhead
set xtics rotate by 30 right
set key top left maxrows 3
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set grid ytics
plot 'bench/results/h100_speed_2026-11-24.csv' using 3:xtic(1) title 'zemla before (portable)' lc rgb '#bbbbbb', \
     '' using 4 title 'zemla portable now' lc rgb '#6baed6', \
     '' using 5 title 'zemla nv_mma now' lc rgb '#08519c', \
     '' using 6 title 'sglang Triton (same run, best split count)' lc rgb '#fd8d3c', \
     '' using 7 title 'PyTorch eager (same run)' lc rgb '#74c476', \
     '' using ($0 + 0.09):2 with points pt 7 ps 1.2 lc rgb 'black' title 'floor: max(HBM 3.35 TB/s, FP32 67 TFLOP/s)'
