# results.png: median wall time and peak RSS per case, and the primary's CPU per no-op peer.
# Called as: gnuplot -e "dir='bench/out'; out='bench/out/results.png'; title='...'; cases=1" chart.gp
# cases=0 (a --scale-run) draws only the primary-CPU panel.

if (cases) { set terminal pngcairo size 1500,1500 font "DejaVu Sans,10" } else { set terminal pngcairo size 1200,600 font "DejaVu Sans,10" }
set output out
set datafile missing "?"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key top left horizontal
set xtics rotate by -25 left nomirror
set bmargin 7

if (cases) { set multiplot layout 3,1 title title font ",13" } else { set multiplot layout 1,1 title title font ",13" }
if (cases) {

set title "median wall time per case (log scale; lower is better)"
set logscale y
set ylabel "seconds"
plot dir."/chart-wall.dat" using 2:xtic(1) title "depsync" lc rgb "#1f77b4", \
     "" using 3 title "git (add+commit / fetch+checkout)" lc rgb "#ff7f0e", \
     "" using 4 title "git push" lc rgb "#ffbb78", \
     "" using 5 title "rsync" lc rgb "#2ca02c", \
     "" using 6 title "floor (cp -a / ssh true / empty command)" lc rgb "#7f7f7f"

set title "median peak RSS per case (log scale)"
set ylabel "MB"
plot dir."/chart-rss.dat" using 2:xtic(1) title "depsync" lc rgb "#1f77b4", \
     "" using 3 title "git" lc rgb "#ff7f0e", \
     "" using 4 title "git push" lc rgb "#ffbb78", \
     "" using 5 title "rsync" lc rgb "#2ca02c", \
     "" using 6 title "floor" lc rgb "#7f7f7f"

}
set title "primary CPU per no-op peer (median of cycles of 10 peers; lower is better)"
unset logscale y
set yrange [0:*]
set ylabel "ms of CPU per peer"
set xtics rotate by 0 center
plot dir."/chart-serve.dat" using 2:xtic(1) title "10,000-file tree" lc rgb "#1f77b4", \
     "" using 3 title "100,000-file tree" lc rgb "#d62728"

unset multiplot
