-- A few rows so `eddy dev` has something to show.
INSERT INTO songs (title, artist, album, length, genre, metadata)
VALUES ('party anthem 444', 'PARTY ANTHEMZ 444', 'party anthem444z', 44, '{dance}',
        '{"artist": "PARTY ANTHEMZ 444", "bpm": 128}'),
       ('Quiet Storm', 'Randomer', 'Night Drive', 301, '{electronic,techno}',
        '{"artist": "Randomer", "tags": ["late"]}');
INSERT INTO playlists (name, owner_id) VALUES ('Favourites', 'user-1');
INSERT INTO playlist_items (playlist_id, song_id, position)
SELECT p.id, s.id, row_number() OVER (ORDER BY s.id) FROM playlists p, songs s;
