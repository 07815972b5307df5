"""The checks on a customer's details: what passes, how it is stored, and the Spanish reason when it does not."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from data.customer_details import (
    PROVINCES_FILE,
    InvalidDetailError,
    OrderDetails,
    PostalCode,
    province_of,
    provinces,
    validate_email,
    validate_name,
    validate_phone,
    validate_postal_code,
    validate_shipping_cost,
)

# --------------------------------------------------------------------------- postal codes


def test_the_52_provinces_come_from_the_data_file() -> None:
    table = provinces()
    assert sorted(table) == [f"{n:02d}" for n in range(1, 53)]
    assert table == json.loads(PROVINCES_FILE.read_text(encoding="utf-8"))["prefixes"]


@pytest.mark.parametrize(
    ("raw", "code", "province"),
    [
        ("28013", "28013", "Madrid"),
        (" 08 001 ", "08001", "Barcelona"),
        ("01001", "01001", "Araba/Álava"),
        ("07800", "07800", "Illes Balears"),
        ("35001", "35001", "Las Palmas"),
        ("38001", "38001", "Santa Cruz de Tenerife"),
        ("51001", "51001", "Ceuta"),
        ("52001", "52001", "Melilla"),
    ],
)
def test_spanish_postal_codes_and_their_province(raw: str, code: str, province: str) -> None:
    assert validate_postal_code(raw) == PostalCode(code, province)
    assert province_of(raw) == province


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "Falta el código postal"),
        (None, "Falta el código postal"),
        ("2801", "5 cifras"),
        ("280133", "5 cifras"),
        ("28O13", "5 cifras"),
        ("00123", "no es de España"),
        ("53001", "no es de España"),
        ("99999", "no es de España"),
    ],
)
def test_bad_postal_codes_say_why(raw: str | None, fragment: str) -> None:
    with pytest.raises(InvalidDetailError, match=fragment) as caught:
        validate_postal_code(raw)
    assert caught.value.field == "postal_code"


# --------------------------------------------------------------------------- e-mail, phone, name


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("ana@correo.es", "ana@correo.es"),
        ("  Ana.Perez+tienda@Correo.ES ", "Ana.Perez+tienda@correo.es"),
        ("x@sub.dominio.com", "x@sub.dominio.com"),
    ],
)
def test_valid_emails(raw: str, stored: str) -> None:
    assert validate_email(raw) == stored


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "Falta el correo"),
        ("ana", "no es válido"),
        ("ana@", "no es válido"),
        ("@correo.es", "no es válido"),
        ("ana@@correo.es", "no es válido"),
        ("ana maria@correo.es", "no es válido"),
        ("ana@correo", "falta el dominio completo"),
        ("ana@correo.", "falta el dominio completo"),
        ("ana@.es", "falta el dominio completo"),
        ("ana@correo.e", "falta el dominio completo"),
    ],
)
def test_bad_emails_say_why(raw: str, fragment: str) -> None:
    with pytest.raises(InvalidDetailError, match=fragment) as caught:
        validate_email(raw)
    assert caught.value.field == "email"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("612345678", "612345678"),
        ("612 34 56 78", "612345678"),
        ("+34 612 345 678", "+34612345678"),
        ("(+34) 912-345-678", "+34912345678"),
        ("0034612345678", "0034612345678"),
    ],
)
def test_valid_phones(raw: str, stored: str) -> None:
    assert validate_phone(raw) == stored


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "Falta el teléfono"),
        ("61234567", "al menos 9"),
        ("+34 61234", "al menos 9"),
        ("612 345 67a", "solo puede llevar números"),
        ("seis uno dos", "solo puede llevar números"),
        ("612+345678", "solo puede llevar números"),
        ("1234567890123456", "demasiadas cifras"),
    ],
)
def test_bad_phones_say_why(raw: str, fragment: str) -> None:
    with pytest.raises(InvalidDetailError, match=fragment) as caught:
        validate_phone(raw)
    assert caught.value.field == "phone"


def test_names() -> None:
    assert validate_name("  Ana   María  López ") == "Ana María López"
    assert validate_name("Ñ" * 120) == "Ñ" * 120
    for raw, fragment in (("", "Falta el nombre"), ("   ", "Falta el nombre"), ("Ñ" * 121, "demasiado largo")):
        with pytest.raises(InvalidDetailError, match=fragment):
            validate_name(raw)
    with pytest.raises(InvalidDetailError, match="letras"):
        validate_name("12345")


def test_shipping_cost() -> None:
    assert validate_shipping_cost("4.95") == Decimal("4.95")
    assert validate_shipping_cost(0) == Decimal("0.00")
    for raw, fragment in (("-1", "de 0 €"), ("4.955", "dos decimales"), ("gratis", "importe en euros")):
        with pytest.raises(InvalidDetailError, match=fragment):
            validate_shipping_cost(raw)


# --------------------------------------------------------------------------- the whole set


def test_order_details_are_normalised_and_the_province_comes_from_the_postal_code() -> None:
    details = OrderDetails(
        name=" Ana  López ",
        email="Ana@Correo.ES",
        phone="+34 612 345 678",
        address_line="Calle Mayor 1, 2º B",
        postal_code="28013",
        city="Madrid",
        shipping_cost=Decimal("4.95"),
        payment_method="tarjeta",
        channel="telegram",
        telegram_chat_id=123456789012,
    )
    assert (details.name, details.email, details.phone) == ("Ana López", "Ana@correo.es", "+34612345678")
    assert details.province == "Madrid" and details.country == "ES"
    fields = details.as_order_fields()
    assert fields["customer_name"] == "Ana López" and fields["postal_code"] == "28013"
    assert fields["telegram_chat_id"] == 123456789012 and fields["shipping_cost"] == Decimal("4.95")


def test_delivery_needs_an_address_and_pickup_does_not() -> None:
    with pytest.raises(InvalidDetailError, match="faltan la dirección, el código postal y la localidad"):
        OrderDetails(delivery_method="envio")
    with pytest.raises(InvalidDetailError, match="falta la localidad") as caught:
        OrderDetails(address_line="Calle Mayor 1", postal_code="28013")
    assert caught.value.field == "city"
    pickup = OrderDetails(delivery_method="recogida", pickup_point="Tienda Centro", name="Ana")
    assert pickup.address_line is None and pickup.shipping_cost == Decimal("0.00")
    with pytest.raises(InvalidDetailError, match="«envio» o «recogida»"):
        OrderDetails(delivery_method="mensajero")
    with pytest.raises(InvalidDetailError, match="Canal desconocido"):
        OrderDetails(delivery_method="recogida", channel="fax")
    with pytest.raises(InvalidDetailError, match="no es de España"):
        OrderDetails(address_line="Rue 1", postal_code="75001", city="París")
    abroad = OrderDetails(address_line="Rue 1", postal_code="75001", city="París", country="fr")
    assert abroad.country == "FR" and abroad.province is None
