"""The provider types the manifest accepts are exactly the ones an adapter serves."""

from __future__ import annotations

from routectl.core.manifest import ProviderType
from routectl.core.providers import FEATURES, SERVED
from routectl.gateway.providers import ADAPTERS
from routectl.loader.yaml_source import load_paths


def test_schema_types_core_table_and_adapters_are_one_set():
    assert [t.value for t in ProviderType] == list(SERVED)
    assert set(ADAPTERS) == set(SERVED)
    for type_, adapter in ADAPTERS.items():
        assert adapter.serves == SERVED[type_] and adapter.serves <= set(FEATURES)


def test_an_unserved_provider_type_is_a_located_error_naming_it(tmp_path):
    (tmp_path / "p.yaml").write_text(
        "apiVersion: routectl.dev/v1\nkind: Provider\nmetadata: {name: x}\n"
        "spec: {type: cohere, baseUrl: 'https://api.cohere.ai', jurisdiction: US}\n"
    )
    result = load_paths([tmp_path])
    (error,) = result.errors
    assert "provider type 'cohere' is not served by any adapter" in str(error)
    assert "p.yaml:4" in str(error)
