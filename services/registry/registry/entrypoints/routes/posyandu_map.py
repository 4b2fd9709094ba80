"""The city's map of Posyandu as GeoJSON: the same filters as GET /posyandu, unpaged."""

from __future__ import annotations

import json

from fastapi import APIRouter, Response

from registry.config import ConfigDep
from registry.entrypoints.geojson import MEDIA_TYPE, feature_collection
from registry.entrypoints.listing import PosyanduFilters
from registry.entrypoints.schemas import PosyanduFeatureCollection
from registry.handlers import posyandu as handlers
from sikader_shared.deps import RegistryReader, SessionDep

router = APIRouter(tags=["posyandu"])

PII = "registry:pii"


@router.get(
    "/posyandu.geojson",
    response_class=Response,
    responses={200: {"content": {MEDIA_TYPE: {"schema": PosyanduFeatureCollection.model_json_schema()}}}},
)
async def posyandu_geojson(
    session: SessionDep, config: ConfigDep, actor: RegistryReader, filters: PosyanduFilters
) -> Response:
    """Every Posyandu matching the filters of GET /posyandu, as a GeoJSON FeatureCollection of
    points ([longitude, latitude]), unpaged: the whole city in one answer. A Posyandu meeting
    in a resident's house (or not assessed yet) is placed approximately (a 0.002 degree grid)
    without `registry:pii`. Posyandu without coordinates are not features:
    `without_coordinates` counts them (list them with GET /posyandu?has_coordinates=false).
    `location_check` is "far_from_kelurahan" for a point over 5 km from its kelurahan's centroid."""
    points = await handlers.map_points(session, **filters)
    body = feature_collection(points, config.wilayah, actor.has(PII))
    return Response(json.dumps(body, separators=(",", ":")), media_type=MEDIA_TYPE)
