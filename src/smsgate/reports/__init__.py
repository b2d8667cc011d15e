"""Detailed statistics files (``Statistic/all_stat.php``): the background builder, the build
process, and the CSV and XLSX writers."""
