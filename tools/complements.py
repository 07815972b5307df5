"""Which kinds of products go with which: the recommender's rules when there is no order history yet.

Keys and values are subcategories folded (lower case, no accents). Rules are generic shop knowledge, so they
also serve catalogues other than the sample one; unknown subcategories simply get no rule-based complements.
"""

from __future__ import annotations

COMPLEMENTS: dict[str, tuple[str, ...]] = {
    "smartphones": ("fundas", "protectores de pantalla", "cargadores", "cables", "baterias externas", "auriculares"),
    "smartwatches": ("cargadores", "accesorios"),
    "tablets": ("fundas", "teclados", "cargadores", "mochilas y fundas"),
    "portatiles": ("ratones", "mochilas y fundas", "almacenamiento", "teclados", "monitores", "software"),
    "monitores": ("cables", "teclados", "ratones"),
    "impresoras": ("consumibles",),
    "consolas": ("accesorios de consola", "televisores", "auriculares"),
    "televisores": ("barras de sonido", "soportes de tv", "cables", "consolas"),
    "barras de sonido": ("televisores", "cables"),
    "camaras": ("almacenamiento", "pilas"),
    "camaras deportivas": ("almacenamiento", "accesorios"),
    "lectores de libros electronicos": ("accesorios para lectores", "accesorios de lectura"),
    "cafeteras": ("cafe", "accesorios de cocina"),
    "sartenes": ("accesorios de cocina", "ollas y cacerolas", "cuchilleria"),
    "ollas y cacerolas": ("sartenes", "accesorios de cocina"),
    "robots de cocina": ("accesorios de cocina", "libros de cocina"),
    "freidoras de aire": ("accesorios de cocina", "menaje de horno"),
    "paelleras": ("accesorios de cocina", "barbacoas"),
    "raquetas de tenis": ("pelotas de tenis", "accesorios de raqueta"),
    "palas de padel": ("pelotas de padel", "accesorios de raqueta"),
    "zapatillas de running": ("ropa de running", "calcetines", "relojes deportivos", "hidratacion"),
    "ciclismo": ("hidratacion", "relojes deportivos"),
    "pienso para perros": (
        "snacks para perros",
        "correas y collares",
        "comederos y bebederos",
        "juguetes para mascotas",
    ),
    "comida para gatos": ("arena para gatos", "rascadores", "comederos y bebederos"),
    "novela": ("accesorios de lectura",),
    "novela historica": ("accesorios de lectura",),
    "ciencia ficcion": ("accesorios de lectura",),
    "clasicos": ("accesorios de lectura",),
    "taladros y atornilladores": ("accesorios de herramientas", "baterias y cargadores", "almacenaje de herramientas"),
    "amoladoras": ("accesorios de herramientas", "baterias y cargadores"),
    "sierras": ("accesorios de herramientas", "baterias y cargadores"),
    "barbacoas": ("accesorios de cocina", "muebles de jardin"),
    "cortacespedes": ("herramientas de jardin", "riego"),
    "macetas": ("tierra y abonos", "semillas"),
    "semillas": ("tierra y abonos", "macetas", "riego"),
    "cochecitos": ("sillas de coche", "textil de bebe"),
    "cunas y moises": ("textil de bebe", "seguridad del bebe"),
    "tronas": ("lactancia y alimentacion",),
    "aspiradoras": ("limpieza",),
    "robots aspiradores": ("limpieza",),
    "camisetas": ("vaqueros", "zapatillas", "sudaderas y polares"),
    "vaqueros": ("camisetas", "zapatillas"),
    "zapatillas": ("calcetines", "camisetas"),
}
