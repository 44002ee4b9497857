"""Where people are: the time zone of a city, the region of a place, distances on the globe."""

from __future__ import annotations

import math

CITY_TZ: dict[str, str] = {
    "london": "Europe/London",
    "manchester": "Europe/London",
    "edinburgh": "Europe/London",
    "birmingham": "Europe/London",
    "dublin": "Europe/Dublin",
    "paris": "Europe/Paris",
    "lyon": "Europe/Paris",
    "marseille": "Europe/Paris",
    "berlin": "Europe/Berlin",
    "munich": "Europe/Berlin",
    "frankfurt": "Europe/Berlin",
    "hamburg": "Europe/Berlin",
    "cologne": "Europe/Berlin",
    "amsterdam": "Europe/Amsterdam",
    "rotterdam": "Europe/Amsterdam",
    "brussels": "Europe/Brussels",
    "madrid": "Europe/Madrid",
    "barcelona": "Europe/Madrid",
    "lisbon": "Europe/Lisbon",
    "porto": "Europe/Lisbon",
    "rome": "Europe/Rome",
    "milan": "Europe/Rome",
    "vienna": "Europe/Vienna",
    "zurich": "Europe/Zurich",
    "geneva": "Europe/Zurich",
    "stockholm": "Europe/Stockholm",
    "oslo": "Europe/Oslo",
    "copenhagen": "Europe/Copenhagen",
    "helsinki": "Europe/Helsinki",
    "warsaw": "Europe/Warsaw",
    "krakow": "Europe/Warsaw",
    "prague": "Europe/Prague",
    "budapest": "Europe/Budapest",
    "bucharest": "Europe/Bucharest",
    "sofia": "Europe/Sofia",
    "athens": "Europe/Athens",
    "istanbul": "Europe/Istanbul",
    "kyiv": "Europe/Kyiv",
    "kiev": "Europe/Kyiv",
    "moscow": "Europe/Moscow",
    "saint petersburg": "Europe/Moscow",
    "tallinn": "Europe/Tallinn",
    "riga": "Europe/Riga",
    "vilnius": "Europe/Vilnius",
    "belgrade": "Europe/Belgrade",
    "zagreb": "Europe/Zagreb",
    "luxembourg": "Europe/Luxembourg",
    "reykjavik": "Atlantic/Reykjavik",
    "tel aviv": "Asia/Jerusalem",
    "dubai": "Asia/Dubai",
    "riyadh": "Asia/Riyadh",
    "cairo": "Africa/Cairo",
    "johannesburg": "Africa/Johannesburg",
    "cape town": "Africa/Johannesburg",
    "lagos": "Africa/Lagos",
    "nairobi": "Africa/Nairobi",
    "casablanca": "Africa/Casablanca",
    "mumbai": "Asia/Kolkata",
    "bengaluru": "Asia/Kolkata",
    "bangalore": "Asia/Kolkata",
    "new delhi": "Asia/Kolkata",
    "delhi": "Asia/Kolkata",
    "chennai": "Asia/Kolkata",
    "hyderabad": "Asia/Kolkata",
    "pune": "Asia/Kolkata",
    "karachi": "Asia/Karachi",
    "dhaka": "Asia/Dhaka",
    "singapore": "Asia/Singapore",
    "kuala lumpur": "Asia/Kuala_Lumpur",
    "jakarta": "Asia/Jakarta",
    "bangkok": "Asia/Bangkok",
    "manila": "Asia/Manila",
    "ho chi minh city": "Asia/Ho_Chi_Minh",
    "hanoi": "Asia/Ho_Chi_Minh",
    "hong kong": "Asia/Hong_Kong",
    "shanghai": "Asia/Shanghai",
    "beijing": "Asia/Shanghai",
    "shenzhen": "Asia/Shanghai",
    "guangzhou": "Asia/Shanghai",
    "taipei": "Asia/Taipei",
    "seoul": "Asia/Seoul",
    "tokyo": "Asia/Tokyo",
    "osaka": "Asia/Tokyo",
    "sydney": "Australia/Sydney",
    "melbourne": "Australia/Melbourne",
    "brisbane": "Australia/Brisbane",
    "perth": "Australia/Perth",
    "adelaide": "Australia/Adelaide",
    "auckland": "Pacific/Auckland",
    "wellington": "Pacific/Auckland",
    "new york": "America/New_York",
    "boston": "America/New_York",
    "washington": "America/New_York",
    "philadelphia": "America/New_York",
    "atlanta": "America/New_York",
    "miami": "America/New_York",
    "ashburn": "America/New_York",
    "chicago": "America/Chicago",
    "dallas": "America/Chicago",
    "houston": "America/Chicago",
    "austin": "America/Chicago",
    "denver": "America/Denver",
    "phoenix": "America/Phoenix",
    "salt lake city": "America/Denver",
    "los angeles": "America/Los_Angeles",
    "san francisco": "America/Los_Angeles",
    "san jose": "America/Los_Angeles",
    "mountain view": "America/Los_Angeles",
    "seattle": "America/Los_Angeles",
    "portland": "America/Los_Angeles",
    "toronto": "America/Toronto",
    "montreal": "America/Toronto",
    "ottawa": "America/Toronto",
    "vancouver": "America/Vancouver",
    "calgary": "America/Edmonton",
    "mexico city": "America/Mexico_City",
    "bogota": "America/Bogota",
    "lima": "America/Lima",
    "santiago": "America/Santiago",
    "buenos aires": "America/Argentina/Buenos_Aires",
    "sao paulo": "America/Sao_Paulo",
    "são paulo": "America/Sao_Paulo",
    "rio de janeiro": "America/Sao_Paulo",
}
COUNTRY_TZ: dict[str, str] = {
    "GB": "Europe/London",
    "IE": "Europe/Dublin",
    "FR": "Europe/Paris",
    "DE": "Europe/Berlin",
    "NL": "Europe/Amsterdam",
    "BE": "Europe/Brussels",
    "ES": "Europe/Madrid",
    "PT": "Europe/Lisbon",
    "IT": "Europe/Rome",
    "AT": "Europe/Vienna",
    "CH": "Europe/Zurich",
    "SE": "Europe/Stockholm",
    "NO": "Europe/Oslo",
    "DK": "Europe/Copenhagen",
    "FI": "Europe/Helsinki",
    "PL": "Europe/Warsaw",
    "CZ": "Europe/Prague",
    "SK": "Europe/Bratislava",
    "HU": "Europe/Budapest",
    "RO": "Europe/Bucharest",
    "BG": "Europe/Sofia",
    "GR": "Europe/Athens",
    "TR": "Europe/Istanbul",
    "UA": "Europe/Kyiv",
    "EE": "Europe/Tallinn",
    "LV": "Europe/Riga",
    "LT": "Europe/Vilnius",
    "RS": "Europe/Belgrade",
    "HR": "Europe/Zagreb",
    "SI": "Europe/Ljubljana",
    "LU": "Europe/Luxembourg",
    "IS": "Atlantic/Reykjavik",
    "IL": "Asia/Jerusalem",
    "AE": "Asia/Dubai",
    "SA": "Asia/Riyadh",
    "EG": "Africa/Cairo",
    "ZA": "Africa/Johannesburg",
    "NG": "Africa/Lagos",
    "KE": "Africa/Nairobi",
    "MA": "Africa/Casablanca",
    "IN": "Asia/Kolkata",
    "PK": "Asia/Karachi",
    "BD": "Asia/Dhaka",
    "SG": "Asia/Singapore",
    "MY": "Asia/Kuala_Lumpur",
    "TH": "Asia/Bangkok",
    "VN": "Asia/Ho_Chi_Minh",
    "PH": "Asia/Manila",
    "HK": "Asia/Hong_Kong",
    "CN": "Asia/Shanghai",
    "TW": "Asia/Taipei",
    "KR": "Asia/Seoul",
    "JP": "Asia/Tokyo",
    "NZ": "Pacific/Auckland",
    "CO": "America/Bogota",
    "PE": "America/Lima",
    "CL": "America/Santiago",
    "AR": "America/Argentina/Buenos_Aires",
}


def zone_for(country: str, city: str, lon: float) -> str:
    """IANA zone of a city: the city map, then single-zone countries, then the longitude."""
    name = CITY_TZ.get(city.strip().lower())
    if name:
        return name
    cc = country.strip().upper()
    if cc in ("US", "CA"):
        if lon > -87.5:
            return "America/New_York" if cc == "US" else "America/Toronto"
        if lon > -102:
            return "America/Chicago" if cc == "US" else "America/Winnipeg"
        if lon > -115:
            return "America/Denver" if cc == "US" else "America/Edmonton"
        return "America/Los_Angeles" if cc == "US" else "America/Vancouver"
    if cc == "AU":
        return "Australia/Perth" if lon < 129 else "Australia/Sydney"
    if cc == "BR":
        return "America/Sao_Paulo"
    if cc == "MX":
        return "America/Mexico_City"
    if cc in COUNTRY_TZ:
        return COUNTRY_TZ[cc]
    offset = round(lon / 15)
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def region(lat: float, lon: float) -> str:
    if lon < -30:
        return "americas"
    if lon < 45 and lat > 34:
        return "europe"
    if lon >= 60:
        return "apac"
    return "other"


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))
