"""Performance tools: the process settings that decide training speed on a CPU (allocator,
threads) and the benchmarks behind docs/performance.md.

- :mod:`gazebench.perf.runtime`   allocator detection and tcmalloc re-exec, thread settings
- :mod:`gazebench.perf.bench`     ``gazebench bench``: data path vs model step vs full step
- :mod:`gazebench.perf.seedstyle` the reference pipeline (PIL decode and resize per crop), for comparison
- :mod:`gazebench.perf.memory`    peak memory of a run, for two dataset sizes
- :mod:`gazebench.perf.throughput` a run's recorded training throughput against an outside clock
- :mod:`gazebench.perf.precision` a trained checkpoint's predictions under fp32 vs bf16 autocast
"""
