"""A test-only urlconf: Django REST framework list and detail views over thumbkit rows.

No authentication and the JSON renderer only, so a response costs exactly the queries of
its rows and thumbkit's store read.
"""

from __future__ import annotations

import pickle
from typing import Any

from django.urls import path
from rest_framework import generics, serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tests.testapp.models import Member, Membership, Profile
from thumbkit.drf import ThumbnailField, ThumbnailListSerializer


class ProfileSerializer(serializers.ModelSerializer):
    # the field's declared thumbnails, by name
    thumbnails = ThumbnailField(source="photo", specs=["small", "card"])

    class Meta:
        model = Profile
        fields = ["id", "name", "thumbnails"]


class HeroSerializer(serializers.ModelSerializer):
    hero = ThumbnailField(source="photo", specs="card", srcset=[80, 160], placeholder=True)

    class Meta:
        model = Profile
        fields = ["id", "hero"]


class MemberSerializer(serializers.ModelSerializer):
    # a plain models.ImageField: geometry strings, keyed as the dict says
    photo = ThumbnailField(specs={"small": "100x100 crop", "big": "250x250 crop"})

    class Meta:
        model = Member
        fields = ["id", "photo"]
        list_serializer_class = ThumbnailListSerializer


class MembershipSerializer(serializers.ModelSerializer):
    thumb = ThumbnailField(source="member.photo", specs="100x100 crop")

    class Meta:
        model = Membership
        fields = ["id", "thumb"]


class Plain:
    """No auth, JSON only: the response's cost is its rows and the store."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []
    renderer_classes = [JSONRenderer]


class Hundred(PageNumberPagination):
    page_size = 100


class ProfileList(Plain, generics.ListAPIView):
    queryset = Profile.objects.all()
    serializer_class = ProfileSerializer
    pagination_class = None


class ProfilePage(ProfileList):
    pagination_class = Hundred


class ProfileDetail(Plain, generics.RetrieveAPIView):
    queryset = Profile.objects.all()
    serializer_class = HeroSerializer


class MemberList(Plain, generics.ListAPIView):
    queryset = Member.objects.all()
    serializer_class = MemberSerializer
    pagination_class = None


class MembershipList(Plain, generics.ListAPIView):
    queryset = Membership.objects.select_related("member")
    serializer_class = MembershipSerializer
    pagination_class = None


# Rows as a cache would hand them back: unpickled instances, which no queryset loaded
# together (thumbkit's automatic batching does not see them).
CACHED: dict[str, bytes] = {}


class CachedProfiles(Plain, APIView):
    def get(self, request: Request) -> Response:
        rows = pickle.loads(CACHED["profiles"])
        return Response(ProfileSerializer(rows, many=True, context={"request": request}).data)


urlpatterns: list[Any] = [
    path("api/profiles/", ProfileList.as_view()),
    path("api/profiles/paged/", ProfilePage.as_view()),
    path("api/profiles/cached/", CachedProfiles.as_view()),
    path("api/profiles/<int:pk>/", ProfileDetail.as_view()),
    path("api/members/", MemberList.as_view()),
    path("api/memberships/", MembershipList.as_view()),
]
