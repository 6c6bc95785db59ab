module weft/bench/chan

go 1.19
