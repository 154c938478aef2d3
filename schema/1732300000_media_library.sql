-- The media library (seed 001): songs, media blobs with JSONB metadata, playlists, and playlist
-- items with a composite key. `eddy dev` loads the files of this folder in timestamp order.
CREATE TYPE media_kind AS ENUM ('audio', 'image', 'video');

CREATE TABLE songs (
  id          bigserial PRIMARY KEY,
  title       text NOT NULL CHECK (char_length(title) > 0),
  artist      text,
  album       text,
  length      integer CHECK (length >= 0),
  genre       text[] DEFAULT '{}' CHECK (array_length(genre, 1) <= 5),
  path        text,
  image_path  text,
  metadata    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
  date_added  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE media_blobs (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  song_id     bigint REFERENCES songs (id) ON DELETE CASCADE,
  kind        media_kind NOT NULL,
  metadata    jsonb NOT NULL DEFAULT '{"artist": null, "genre": []}'
              CHECK (jsonb_typeof(metadata) = 'object'),
  data        bytea,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_media_blobs_artist ON media_blobs ((metadata ->> 'artist'));

CREATE TABLE playlists (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name        text NOT NULL CHECK (char_length(name) > 0),
  owner_id    text,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE playlist_items (
  playlist_id uuid NOT NULL REFERENCES playlists (id) ON DELETE CASCADE,
  song_id     bigint NOT NULL REFERENCES songs (id) ON DELETE CASCADE,
  position    integer NOT NULL,
  added_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (playlist_id, song_id)
);
