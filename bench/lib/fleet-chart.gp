# bench/fleet's results.png: time until every peer runs the release, and the primary's CPU, against N.
# Called as: gnuplot -e "dir='bench/out/fleet'; out='bench/out/fleet/results.png'; title='...'" fleet-chart.gp

set terminal pngcairo size 1600,700 font "DejaVu Sans,10"
set output out
set datafile missing "?"
set grid xtics ytics
set logscale x 2
set xlabel "peers (N)"
set key top left
set multiplot layout 1,2 title title font ",13"

set style line 1 lc rgb "#1f77b4" lw 2 pt 7 dt 1
set style line 2 lc rgb "#ff7f0e" lw 2 pt 5 dt 1
set style line 3 lc rgb "#9467bd" lw 2 pt 9 dt 1
set style line 4 lc rgb "#2ca02c" lw 2 pt 13 dt 1
set style line 5 lc rgb "#1f77b4" lw 2 pt 6 dt 2
set style line 6 lc rgb "#ff7f0e" lw 2 pt 4 dt 2
set style line 7 lc rgb "#9467bd" lw 2 pt 8 dt 2
set style line 8 lc rgb "#2ca02c" lw 2 pt 12 dt 2

set title "time from publish until every peer runs the release (lower is better)"
set logscale y
set ylabel "seconds (log scale)"
plot for [i=2:9] dir."/chart-converge.dat" using 1:i with linespoints ls (i-1) \
    title word("depsync-ssh-1G depsync-https-1G depsync-mirror-1G rsync-script-1G depsync-ssh-100M depsync-https-100M depsync-mirror-100M rsync-script-100M", i-1)

set title "primary CPU for that release (servers + what started the peers)"
set ylabel "CPU seconds (log scale)"
plot for [i=2:9] dir."/chart-cpu.dat" using 1:i with linespoints ls (i-1) \
    title word("depsync-ssh-1G depsync-https-1G depsync-mirror-1G rsync-script-1G depsync-ssh-100M depsync-https-100M depsync-mirror-100M rsync-script-100M", i-1)

unset multiplot
