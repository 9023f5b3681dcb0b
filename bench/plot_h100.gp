# Per-case fraction of the binding roof (min of HBM and FP32 roofs) on the
# H100, before and after the register-blocked kernel, with the issue's
# targets. Run from the repository root: gnuplot bench/plot_h100.gp
set terminal pngcairo size 1600,650 font ',10'
set output 'bench/results/h100_portable_bf16_2026-11-24.png'
set datafile separator ','
set title "zemla mla-decode, NVIDIA H100 80GB HBM3 through OpenCL, portable variant, bf16, page 64 (2026-11-24)\nproxy for the kernel design, not an Intel figure"
set ylabel '% of min(3.35 TB/s, 67 TFLOP/s FP32) roof'
set xtics rotate by 60 right
set key top left
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8
set grid ytics
set yrange [0:100]
plot 'bench/results/h100_portable_bf16_2026-11-24.csv' using 10:xtic(sprintf('H%d B%d L%d', $1, $2, $3)) \
       title 'baseline (one score per item)', \
     'bench/results/h100_portable_bf16_2026-11-24_blocked.csv' using 10 title 'register-blocked scores', \
     60 with lines lw 2 dt 2 title 'target: 60% of the binding roof', \
     80 with lines lw 2 dt 3 title 'target: 80% of bandwidth (H <= 8)'
