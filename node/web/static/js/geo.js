// Distances without a map: great-circle distance from the member's place,
// which the member types (or lets the browser tell) and this browser keeps.

const KEY = "fabcommons.place";

export function haversineKm(a, b) {
  const rad = (d) => (Number(d) * Math.PI) / 180;
  const dLat = rad(b.lat) - rad(a.lat);
  const dLon = rad(b.lon) - rad(a.lon);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(h)));
}

export function savedPlace() {
  try {
    const place = JSON.parse(localStorage.getItem(KEY) || "null");
    return place && Number.isFinite(Number(place.lat)) && Number.isFinite(Number(place.lon)) ? place : null;
  } catch {
    return null;
  }
}

export function savePlace(place) {
  localStorage.setItem(KEY, JSON.stringify(place));
}

/** Six fractional digits, as places in records carry them. */
export function coordinate(value) {
  return Number(value).toFixed(6);
}
