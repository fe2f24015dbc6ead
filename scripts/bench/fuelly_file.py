"""Writes a deterministic Fuelly export of N fills for one car (default 50,000).

Usage: python3 scripts/bench/fuelly_file.py [N] > fuelly.csv
Fills every 8 hours from 1980, 50-100 miles apart, 25-35 mpg, so every row
passes the meter rules (under 10 million km, under 2,000 miles a day).
"""
import datetime
import random
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
random.seed(7)
t = datetime.datetime(1980, 1, 1, 6, 0)
odo = 1000.0
out = sys.stdout
out.write("car_name,model,mpg,odometer,miles,gallons,price,city_percentage,fuelup_date,"
          "date_added,tags,notes,missed_fuelup,partial_fuelup,latitude,longitude,brand\n")
for _ in range(n):
    miles = random.uniform(50, 100)
    gallons = miles / random.uniform(25, 35)
    odo += miles
    d = t.strftime("%m/%d/%Y %-H:%M")
    out.write(f"Bench,Civic,0,{odo:.1f},{miles:.1f},{gallons:.3f},"
              f"{random.uniform(2.5, 4.5):.3f},50,{d},{d},,,0,0,,,\n")
    t += datetime.timedelta(hours=8)
